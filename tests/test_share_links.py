"""Share links (issue 6): made by a sharer, opened by someone without an account, throttled, locked,
expired, revoked and followed on the sharer's page, every step audited."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password, make_password
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent, Outcome
from portal.sharing.links import services
from portal.sharing.models import ShareLink, ShareLinkUse
from portal.tenancy import all_tenants_scope, tenant_scope
from tests.factories import PatientFactory, ShareLinkFactory, StudyFactory

PIN = "4821"
NO_REFERRER = "no-referrer"


@pytest.fixture
def patient(tenant):
    return PatientFactory(tenant=tenant)


@pytest.fixture
def study(tenant, patient):
    return StudyFactory(tenant=tenant, patient=patient, description="CT HEAD")


@pytest.fixture
def radiologist(tenant, member_factory):
    return member_factory(tenant, Role.RADIOLOGIST)


def pin_link(tenant, study, **kwargs) -> ShareLink:
    """A link to `study` asking for PIN; its token is `link.token`."""
    return ShareLinkFactory(tenant=tenant, studies=[study], pin_hash=make_password(PIN), **kwargs)


def open_url(link) -> str:
    return reverse("share-link-open", kwargs={"token": link.token})


def answer(client, link, value: str = PIN, address: str = "203.0.113.7", **extra):
    return client.post(open_url(link), {"answer": value}, REMOTE_ADDR=address, **extra)


def fresh(link: ShareLink) -> ShareLink:
    with tenant_scope(link.tenant):
        return ShareLink.objects.get(pk=link.pk)


def events(action: AuditAction, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("sequence"))


def assert_private(response) -> None:
    assert response["Referrer-Policy"] == NO_REFERRER
    assert "no-store" in response["Cache-Control"]


# --- Making a link --------------------------------------------------------------------------------------


def create(client, tenant, study, **data):
    form = {"label": "Dr Outside", "expires_in": "7d", "protection": "pin", "pin": PIN} | data
    url = reverse(
        "share-link-new", kwargs={"tenant_slug": tenant.slug, "study_uid": study.study_instance_uid}
    )
    return client.post(url, form)


def shown_token(response) -> str:
    return re.search(r"/s/([A-Za-z0-9_-]+)/", response.content.decode()).group(1)


def test_a_radiologist_makes_a_link_whose_token_is_shown_once_and_kept_only_as_a_hash(
    client, tenant, study, radiologist
):
    client.force_login(radiologist)

    response = create(client, tenant, study, use_limit="3")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = shown_token(response)
    assert len(token) >= 43  # secrets.token_urlsafe(32): 256 bits
    with tenant_scope(tenant):
        link = ShareLink.objects.get()
        assert list(link.studies.all()) == [study]
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert check_password(PIN, link.pin_hash) and PIN not in link.pin_hash
    assert (link.created_by, link.use_limit, link.allow_download) == (radiologist, 3, False)
    assert timedelta(days=6, hours=23) < link.expires_at - timezone.now() <= timedelta(days=7)
    (created,) = events(AuditAction.SHARE_LINK_CREATED)
    assert created.object_ids == [str(link.pk), study.study_instance_uid]
    assert created.actor == radiologist and created.actor_role == Role.RADIOLOGIST
    assert created.details["protection"] == "pin"
    assert token not in str(created.details) and PIN not in str(created.details)


def test_the_raw_token_is_in_no_table_of_the_database(client, tenant, study, radiologist):
    client.force_login(radiologist)
    token = shown_token(create(client, tenant, study))
    answer(client, fresh_link_with_token(tenant, token))

    with all_tenants_scope(), connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            # Names from the database's own catalogue, not from any input.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                assert token not in repr(row), f"the token is stored in {table}"


def fresh_link_with_token(tenant, token: str) -> ShareLink:
    with tenant_scope(tenant):
        link = ShareLink.objects.get(token_hash=services.token_digest(token))
    link.token = token
    return link


@pytest.mark.parametrize(
    "data, field",
    [
        ({"pin": "12"}, "pin"),
        ({"pin": "12ab"}, "pin"),
        ({"pin": "123456789"}, "pin"),
        ({"pin": ""}, "pin"),
        ({"protection": "email_code", "recipient_email": ""}, "recipient_email"),
        ({"expires_in": "365d"}, "expires_in"),
        ({"use_limit": "0"}, "use_limit"),
    ],
)
def test_a_link_needs_a_bounded_expiry_and_a_pin_of_four_to_eight_digits(
    client, tenant, study, radiologist, data, field
):
    client.force_login(radiologist)

    response = create(client, tenant, study, **data)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    with tenant_scope(tenant):
        assert not ShareLink.objects.exists()


def test_a_patient_shares_their_own_study_but_not_another_patients(
    client, tenant, study, patient, member_factory
):
    owner = member_factory(tenant, Role.PATIENT)
    with tenant_scope(tenant):
        patient.account = owner
        patient.save()
    other = StudyFactory(tenant=tenant)
    client.force_login(owner)

    assert create(client, tenant, study).status_code == 200
    assert create(client, tenant, other).status_code == 404
    with tenant_scope(tenant):
        assert ShareLink.objects.count() == 1


@pytest.mark.parametrize("role", [Role.REFERRING_PHYSICIAN, Role.BILLING, Role.TECHNOLOGIST, Role.AUDITOR])
def test_members_who_may_not_share_the_study_get_404(client, tenant, study, member_factory, role):
    client.force_login(member_factory(tenant, role))
    url = reverse(
        "share-link-new", kwargs={"tenant_slug": tenant.slug, "study_uid": study.study_instance_uid}
    )

    assert client.get(url).status_code == 404
    assert create(client, tenant, study).status_code == 404
    denied = events(AuditAction.ACCESS_DENIED)
    assert denied and all(event.details["reason"] == "not_allowed" for event in denied)


# --- Opening a link (the acceptance point) --------------------------------------------------------------


def test_five_wrong_pins_lock_the_link_and_then_even_the_right_pin_is_refused(client, tenant, study):
    link = pin_link(tenant, study)

    wrong = [answer(client, link, "0000") for _ in range(4)]
    fifth = answer(client, link, "0000")
    right = answer(client, link, PIN)

    assert [response.status_code for response in wrong] == [200] * 4
    assert "Wrong PIN. 1 more wrong answer will lock the link." in wrong[-1].content.decode()
    assert fifth.status_code == 410 and right.status_code == 410
    assert "This link is locked" in right.content.decode() and "Ask the sender" in right.content.decode()
    assert_private(right)
    locked = fresh(link)
    assert locked.locked_at is not None and locked.failed_attempts == 5 and locked.use_count == 0
    failures = events(AuditAction.SHARE_LINK_FAILED)
    assert [event.details["failed_attempts"] for event in failures] == [1, 2, 3, 4, 5]
    assert [event.details["locked"] for event in failures] == [False] * 4 + [True]
    assert all(event.object_ids == [str(link.pk)] and event.tenant == tenant for event in failures)
    (refusal,) = events(AuditAction.ACCESS_DENIED)
    assert refusal.details["reason"] == "locked" and refusal.source_address == "203.0.113.7"


def test_the_right_pin_shows_the_study_and_the_token_leaves_the_url(client, tenant, study):
    link = pin_link(tenant, study)
    landing = client.get(open_url(link))

    opened = answer(client, link, PIN, follow=True)

    assert landing.status_code == 200 and 'name="answer"' in landing.content.decode()
    assert_private(landing)
    assert opened.redirect_chain == [(reverse("share-link-home"), 302)]
    assert link.token not in opened.redirect_chain[-1][0]
    assert_private(opened)
    page = opened.content.decode()
    assert "CT HEAD" in page and study.study_instance_uid in page
    assert link.token not in page
    assert fresh(link).use_count == 1
    (opening,) = events(AuditAction.SHARE_LINK_OPENED)
    assert opening.object_ids == [str(link.pk)] and opening.actor is None
    (listing,) = events(AuditAction.VIEW_STUDY_LIST)
    assert listing.object_ids == [study.study_instance_uid] and listing.session_ref == opening.session_ref


def test_a_right_pin_forgives_earlier_wrong_ones(client, tenant, study):
    link = pin_link(tenant, study)
    for _ in range(4):
        answer(client, link, "9999")

    assert answer(client, link, PIN).status_code == 302
    assert fresh(link).failed_attempts == 0


def test_opening_gives_the_session_a_new_key(client, tenant, study):
    link = pin_link(tenant, study)
    client.get(open_url(link))
    before = client.cookies["sessionid"].value if "sessionid" in client.cookies else None

    answer(client, link)

    assert client.cookies["sessionid"].value != before


def test_after_the_use_limit_the_next_opening_answers_410(client, tenant, study):
    link = pin_link(tenant, study, use_limit=2)
    openings = [answer(client, link).status_code for _ in range(2)]

    refused = answer(client, link)
    landing = client.get(open_url(link))

    assert openings == [302, 302]
    assert refused.status_code == 410 and landing.status_code == 410
    assert "used up" in refused.content.decode()
    assert_private(refused)
    assert fresh(link).use_count == 2
    assert [event.details["reason"] for event in events(AuditAction.ACCESS_DENIED)] == ["used_up", "used_up"]
    # Whoever opened it goes on seeing it: the limit counts openings, not page views.
    assert client.get(reverse("share-link-home")).status_code == 200


def test_the_sharers_page_shows_the_use_count_and_each_address(client, tenant, study, radiologist):
    link = pin_link(tenant, study, use_limit=3, created_by=radiologist)
    visitor_a, visitor_b = client_class(), client_class()
    answer(visitor_a, link, address="203.0.113.7", HTTP_USER_AGENT="Browser A")
    answer(visitor_b, link, address="198.51.100.9", HTTP_USER_AGENT="Browser B")
    answer(visitor_b, link, "1111", address="198.51.100.9")
    client.force_login(radiologist)

    page = client.get(reverse("share-link-detail", kwargs={"tenant_slug": tenant.slug, "link_id": link.pk}))

    assert page.status_code == 200
    assert page.context["link"].use_count == 2
    text = page.content.decode()
    assert re.search(r'data-testid="use-count">2 of 3<', text)
    assert re.search(r'data-testid="failed-attempts">1<', text)
    assert "203.0.113.7" in text and "198.51.100.9" in text and "Browser A" in text
    with tenant_scope(tenant):
        assert sorted(ShareLinkUse.objects.values_list("source_address", flat=True)) == [
            "198.51.100.9",
            "203.0.113.7",
        ]


def client_class():
    from django.test import Client

    return Client()


def test_an_expired_link_answers_410_with_a_plain_page(client, tenant, study):
    link = pin_link(tenant, study, expires_at=timezone.now() - timedelta(minutes=1))

    landing, posted = client.get(open_url(link)), answer(client, link)

    assert landing.status_code == posted.status_code == 410
    assert "This link has expired" in landing.content.decode()
    assert 'name="answer"' not in landing.content.decode()
    assert_private(landing)
    assert [event.details["reason"] for event in events(AuditAction.ACCESS_DENIED)] == ["expired", "expired"]


def test_a_revoked_link_answers_404_like_an_unknown_one(client, tenant, study):
    link = pin_link(tenant, study, revoked_at=timezone.now())

    revoked = client.get(open_url(link))
    unknown = client.get(reverse("share-link-open", kwargs={"token": "x" * 43}))

    assert revoked.status_code == unknown.status_code == 404
    assert revoked.content == unknown.content
    assert_private(revoked)
    reasons = [(event.details["reason"], event.tenant) for event in events(AuditAction.ACCESS_DENIED)]
    assert reasons == [("revoked", tenant), ("unknown", None)]


def test_a_link_without_a_pin_opens_with_one_click_and_never_on_a_plain_get(client, tenant, study):
    link = ShareLinkFactory(tenant=tenant, studies=[study])

    landing = client.get(open_url(link))
    uses_after_get = fresh(link).use_count
    opened = client.post(open_url(link))

    assert landing.status_code == 200 and 'name="answer"' not in landing.content.decode()
    assert uses_after_get == 0
    assert opened.status_code == 302 and opened["Location"] == reverse("share-link-home")
    assert fresh(link).use_count == 1


def test_guesses_from_one_address_are_throttled_with_429(client, tenant, study):
    link = pin_link(tenant, study)
    for n in range(services.GUESSES_PER_ADDRESS):
        client.get(reverse("share-link-open", kwargs={"token": f"guess{n:040d}"}), REMOTE_ADDR="192.0.2.66")

    throttled = answer(client, link, PIN, address="192.0.2.66")
    elsewhere = answer(client_class(), link, PIN, address="192.0.2.67")

    assert throttled.status_code == 429
    assert throttled["Retry-After"] == str(int(services.GUESS_WINDOW.total_seconds()))
    assert_private(throttled)
    assert elsewhere.status_code == 302
    assert events(AuditAction.ACCESS_DENIED, details__reason="throttled")


def test_a_signed_in_member_who_opens_a_link_is_signed_out_and_sees_only_the_link(
    client, tenant, study, radiologist
):
    other = StudyFactory(tenant=tenant)
    link = pin_link(tenant, study)
    client.force_login(radiologist)
    assert "signs you out" in client.get(open_url(link)).content.decode()

    page = answer(client, link, follow=True)

    assert "_auth_user_id" not in client.session
    assert [study.study_instance_uid] == [s.study_instance_uid for s in page.context["studies"]]
    assert other.study_instance_uid not in page.content.decode()


def test_a_wrong_pin_keeps_a_signed_in_member_signed_in(client, tenant, study, radiologist):
    link = pin_link(tenant, study)
    client.force_login(radiologist)

    answer(client, link, "0000")

    assert client.session["_auth_user_id"] == str(radiologist.pk)


def test_the_studies_page_without_an_opened_link_is_404(client, db):
    response = client.get(reverse("share-link-home"))

    assert response.status_code == 404
    assert_private(response)


# --- Revoking -------------------------------------------------------------------------------------------


def revoke(client, tenant, link):
    url = reverse("share-link-revoke", kwargs={"tenant_slug": tenant.slug, "link_id": link.pk})
    return client.post(url)


def test_revoking_ends_the_visit_at_the_next_request(client, tenant, study, radiologist):
    link = pin_link(tenant, study, created_by=radiologist)
    visitor = client_class()
    answer(visitor, link)
    assert visitor.get(reverse("share-link-home")).status_code == 200
    client.force_login(radiologist)

    response = revoke(client, tenant, link)

    assert response.status_code == 302
    assert fresh(link).revoked_at is not None and fresh(link).revoked_by == radiologist
    after = visitor.get(reverse("share-link-home"))
    assert after.status_code == 404 and "This link does not work" in after.content.decode()
    (revoked,) = events(AuditAction.SHARE_LINK_REVOKED)
    assert revoked.object_ids == [str(link.pk)] and revoked.actor == radiologist
    assert events(AuditAction.ACCESS_DENIED, details__reason="revoked")


def test_the_clinic_admin_and_the_patient_may_revoke_another_member_may_not(
    client, tenant, study, patient, radiologist, member_factory
):
    link = pin_link(tenant, study, created_by=radiologist)
    owner = member_factory(tenant, Role.PATIENT)
    with tenant_scope(tenant):
        patient.account = owner
        patient.save()
    colleague = member_factory(tenant, Role.RADIOLOGIST)
    detail = reverse("share-link-detail", kwargs={"tenant_slug": tenant.slug, "link_id": link.pk})

    client.force_login(colleague)
    assert client.get(detail).status_code == 404
    assert revoke(client, tenant, link).status_code == 404
    assert fresh(link).revoked_at is None
    client.force_login(member_factory(tenant, Role.TENANT_ADMIN))
    assert client.get(detail).status_code == 200
    client.force_login(owner)
    assert client.get(detail).status_code == 200
    assert revoke(client, tenant, link).status_code == 302
    assert fresh(link).revoked_at is not None


def test_a_link_of_another_clinic_is_404_on_the_sharers_pages(client, tenant, other_tenant, member_factory):
    link = pin_link(other_tenant, StudyFactory(tenant=other_tenant))
    client.force_login(member_factory(tenant, Role.TENANT_ADMIN))

    detail = reverse("share-link-detail", kwargs={"tenant_slug": tenant.slug, "link_id": link.pk})

    assert client.get(detail).status_code == 404
    assert revoke(client, tenant, link).status_code == 404
    assert fresh(link).revoked_at is None


def test_every_refusal_of_a_link_page_is_audited_as_a_failure(client, tenant, study):
    expired = pin_link(tenant, study, expires_at=timezone.now() - timedelta(seconds=1))
    client.get(open_url(expired))
    client.get(reverse("share-link-open", kwargs={"token": "nope"}))
    client.get(reverse("share-link-home"))

    denied = events(AuditAction.ACCESS_DENIED)

    assert [event.details["reason"] for event in denied] == ["expired", "unknown", "no_link"]
    assert all(event.outcome == Outcome.FAILURE and event.object_type == "share_link" for event in denied)


# --- CSRF under no-referrer (portal/sharing/links/csrf.py) ----------------------------------------------


def csrf_post(link, *, origin: str, fetch_site: str, with_token: bool = True):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.get(open_url(link))
    token = browser.cookies["csrftoken"].value if with_token else ""
    return browser.post(
        open_url(link),
        {"answer": PIN, "csrfmiddlewaretoken": token},
        HTTP_ORIGIN=origin,
        HTTP_SEC_FETCH_SITE=fetch_site,
    )


def test_the_landing_form_opens_with_origin_null_when_the_browser_says_it_came_from_this_site(tenant, study):
    # What a browser sends for a form on a no-referrer page: Origin "null", no Referer.
    assert csrf_post(pin_link(tenant, study), origin="null", fetch_site="same-origin").status_code == 302


@pytest.mark.parametrize(
    "origin, fetch_site, with_token",
    [
        ("null", "cross-site", True),
        ("null", "same-site", True),
        ("https://attacker.example", "cross-site", True),
        ("null", "same-origin", False),
    ],
)
def test_the_landing_form_refuses_cross_site_posts_and_posts_without_the_csrf_token(
    tenant, study, origin, fetch_site, with_token
):
    link = pin_link(tenant, study)

    response = csrf_post(link, origin=origin, fetch_site=fetch_site, with_token=with_token)

    assert response.status_code == 403
    assert fresh(link).use_count == 0 and fresh(link).failed_attempts == 0
