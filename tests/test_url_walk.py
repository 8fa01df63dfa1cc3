"""Every URL the project defines, walked as each kind of caller who must not see a study.

The routes come from the URL resolver, so a route added later is walked without anyone listing it; a
route whose URL arguments this file cannot fill fails `test_every_route_can_be_walked` until a value
is added to `URL_ARGUMENTS`. For each caller, route and method the walk asserts that no PHI of the
victim study (its patient's name, its UIDs) and no image bytes come back, that routes naming the
study or the clinic refuse as designed (404, 410 — never a page), and that each refusal left an
ACCESS_DENIED event in the audit trail.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.models import Study
from portal.sharing.links.visits import SESSION_KEY as LINK_SESSION_KEY
from portal.sharing.models import ShareLink
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import body, ingest_sample
from tests.factories import ShareFactory, ShareLinkFactory, StudyFactory

VICTIM_SAMPLE = "CT_small.dcm"

# A value for each URL argument name used by some route. Study, series and instance UIDs are the
# victim's; identifiers of other rows are ones that may or may not exist, as an attacker would guess.
URL_ARGUMENTS = {
    "tenant_slug": lambda victim: victim.tenant.slug,
    "study_uid": lambda victim: victim.dataset.StudyInstanceUID,
    "series_uid": lambda victim: victim.dataset.SeriesInstanceUID,
    "instance_uid": lambda victim: victim.dataset.SOPInstanceUID,
    "frames": lambda victim: "1",
    "tag": lambda victim: "7FE00010",
    "route": lambda victim: "viewer",
    "token_id": lambda victim: 1,
    "kind": lambda victim: "totp",
    "pk": lambda victim: 1,
    "id": lambda victim: 1,
    "share_id": lambda victim: 1,
    "link_id": lambda victim: 1,
    "alert_id": lambda victim: 1,
    "job_id": lambda victim: 1,
    "download_id": lambda victim: "00000000-0000-0000-0000-000000000001",
    "project_id": lambda victim: "00000000-0000-0000-0000-000000000001",
    "export_id": lambda victim: "00000000-0000-0000-0000-000000000001",
    "certificate_id": lambda victim: "00000000-0000-0000-0000-000000000001",
    "mask_id": lambda victim: 1,
    "membership_id": lambda victim: 1,
    "invitation_id": lambda victim: 1,
    "peer_id": lambda victim: 1,
    "session_id": lambda victim: 1,
    "device_id": lambda victim: 1,
    "passkey_id": lambda victim: 1,
    "token": lambda victim: "x" * 43,
    "uidb64": lambda victim: "MQ",
    "object_id": lambda victim: "1",
    "app_label": lambda victim: "imaging",
    "content_type_id": lambda victim: 1,
    "path": lambda victim: "index.html",
    "url": lambda victim: "imaging/study/",
}

# Argument names that identify the victim's study, down to its frames: a route that takes one must
# refuse every caller of this walk.
STUDY_ARGUMENTS = {"study_uid", "series_uid", "instance_uid"}
# Answers that say nothing of what exists: 405 comes before any lookup.
REFUSALS = {401, 403, 404, 410}
NEUTRAL = REFUSALS | {405}
# What images and study files travel as.
PIXEL_TYPES = {"application/dicom", "multipart/related", "application/octet-stream", "application/zip"}


def _carries_pixels(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type in PIXEL_TYPES or media_type.startswith("image/")


def _says_nothing(response, content: bytes, anonymous: bool) -> bool:
    """A refusal or, for an anonymous caller, the way to the sign-in page."""
    if response.status_code in NEUTRAL:
        return True
    return (
        anonymous
        and response.status_code == 302
        and response["Location"].startswith(reverse(settings.LOGIN_URL))
    )


@dataclass
class Route:
    name: str
    arguments: tuple[str, ...]
    pattern: str

    def url(self, victim) -> str:
        values = {arg: URL_ARGUMENTS[arg](victim) for arg in self.arguments}
        if self.name:
            return reverse(self.name, kwargs=values)
        # Django admin's unnamed redirects (<path:object_id>/): fill the route in.
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(values[match.group(1)]), self.pattern)


def _arguments(pattern) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*pattern.regex.groupindex, *getattr(pattern, "converters", {})]))


def _routes(
    patterns=None, namespace: str = "", prefix: str = "", arguments: tuple[str, ...] = ()
) -> list[Route]:
    found = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _routes(
                entry.url_patterns, inner, prefix + str(entry.pattern), arguments + _arguments(entry.pattern)
            )
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            found.append(Route(name, arguments + _arguments(entry.pattern), prefix + str(entry.pattern)))
    return found


ROUTES = _routes()
# Django admin's catch-all redirect has no name; every other route must have one to be walked.
UNNAMED_ALLOWED = {"admin/(?P<url>.*)$"}
WALKED = [route for route in ROUTES if route.pattern not in UNNAMED_ALLOWED]


def test_every_route_can_be_walked():
    unnamed = {
        route.pattern for route in ROUTES if not route.name and "(?P" in route.pattern
    } - UNNAMED_ALLOWED
    assert not unnamed, f"Name these routes so the walk covers them: {sorted(unnamed)}"
    unknown = {arg for route in WALKED for arg in route.arguments} - set(URL_ARGUMENTS)
    assert not unknown, f"Add a value for these URL arguments to URL_ARGUMENTS: {sorted(unknown)}"


@dataclass
class Victim:
    tenant: object
    dataset: object
    markers: list[bytes] = field(default_factory=list)


@pytest.fixture
def victim(tenant) -> Victim:
    dataset = ingest_sample(tenant, VICTIM_SAMPLE)
    # The patient's name as sent and as a page shows it, and the UIDs. (Its Patient ID, "1CT1", is too
    # short to tell from random bytes of a CSRF token; the name and UIDs stand for it.)
    name = str(dataset.PatientName)
    markers = [
        name,
        name.replace("^", " "),
        dataset.StudyInstanceUID,
        dataset.SeriesInstanceUID,
        dataset.SOPInstanceUID,
    ]
    return Victim(tenant=tenant, dataset=dataset, markers=[marker.encode() for marker in markers])


def _other_tenant_member(victim, other_tenant, member_factory):
    return member_factory(other_tenant, Role.RADIOLOGIST)


def _doctor_without_share(victim, other_tenant, member_factory):
    return member_factory(victim.tenant, Role.REFERRING_PHYSICIAN)


def _doctor_with_expired_share(victim, other_tenant, member_factory):
    doctor = member_factory(victim.tenant, Role.REFERRING_PHYSICIAN)
    from imaging.models import Study
    from portal.tenancy import tenant_scope

    with tenant_scope(victim.tenant):
        study = Study.objects.get(study_instance_uid=victim.dataset.StudyInstanceUID)
    ShareFactory(
        tenant=victim.tenant,
        study=study,
        grantee=doctor,
        allow_download=True,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    return doctor


def _billing(victim, other_tenant, member_factory):
    return member_factory(victim.tenant, Role.BILLING)


def _other_patient(victim, other_tenant, member_factory):
    patient = member_factory(victim.tenant, Role.PATIENT)
    own = StudyFactory(tenant=victim.tenant)
    with tenant_scope(victim.tenant):
        own.patient.account = patient
        own.patient.save()
    return patient


# Who walks, and whether the victim's PHI may appear in a list they are entitled to: billing sees the
# clinic's study lists (names included), never images or a study's own pages.
PERSONAS = {
    "member of another clinic": (_other_tenant_member, False),
    "referring doctor without a share": (_doctor_without_share, False),
    "doctor with an expired share": (_doctor_with_expired_share, False),
    "billing": (_billing, True),
    "patient asking for another patient's study": (_other_patient, False),
}


def _walk(
    client: Client, sign_in, victim: Victim, may_list_phi: bool, outsider: bool, anonymous: bool = False
) -> list[str]:
    problems = []
    for route in WALKED:
        url = route.url(victim)
        for method in ("get", "post"):
            sign_in(client)
            denials_before = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED).count()
            response = getattr(client, method)(url)
            content = body(response)
            where = f"{method.upper()} {url} ({route.name}) → {response.status_code}"
            content_type = response.get("Content-Type", "")
            if _carries_pixels(content_type):
                problems.append(f"{where}: answered {content_type}")
            if not may_list_phi:
                leaked = [marker.decode() for marker in victim.markers if marker in content]
                if leaked:
                    problems.append(f"{where}: shows {leaked}")
            names_the_study = STUDY_ARGUMENTS & set(route.arguments)
            names_the_clinic = "tenant_slug" in route.arguments and outsider
            if (names_the_study or names_the_clinic) and not _says_nothing(response, content, anonymous):
                problems.append(f"{where}: expected a refusal")
            if response.status_code in REFUSALS:
                denials = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED).count() - denials_before
                if denials < 1:
                    problems.append(f"{where}: refusal not audited")
    return problems


@pytest.mark.parametrize("persona", PERSONAS, ids=str)
def test_no_route_shows_a_study_to_a_caller_without_rights(persona, victim, other_tenant, member_factory):
    make_user, may_list_phi = PERSONAS[persona]
    user = make_user(victim, other_tenant, member_factory)
    client = Client()

    def sign_in(client: Client) -> None:
        # Again whenever the session has ended: a walked route may be the sign-out.
        if client.session.get(SESSION_KEY) != str(user.pk):
            client.force_login(user)

    problems = _walk(client, sign_in, victim, may_list_phi, outsider=persona == "member of another clinic")

    assert not problems, "\n".join(problems)


def test_an_anonymous_caller_gets_nothing(victim):
    client = Client()

    problems = _walk(client, lambda client: None, victim, may_list_phi=False, outsider=True, anonymous=True)

    assert not problems, "\n".join(problems)


def test_a_visitor_whose_link_was_revoked_gets_nothing(victim):
    """The link shared the victim study itself; opened (a real opening, the token swapped for the
    session cookie), then revoked: from then on the visitor's session reaches nothing."""
    with tenant_scope(victim.tenant):
        study = Study.objects.get(study_instance_uid=victim.dataset.StudyInstanceUID)
    link = ShareLinkFactory(tenant=victim.tenant, studies=[study], allow_download=True)
    client = Client()
    opened = client.post(reverse("share-link-open", kwargs={"token": link.token}))
    assert opened.status_code == 302
    held = client.session[LINK_SESSION_KEY]
    assert client.get(reverse("share-link-home")).status_code == 200
    with tenant_scope(victim.tenant):
        ShareLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())

    def keep_the_link(client: Client) -> None:
        # A walked route may end the session (the sign-out); the visitor's browser still has the link's.
        if LINK_SESSION_KEY not in client.session:
            session = client.session
            session[LINK_SESSION_KEY] = held
            session.save()

    problems = _walk(client, keep_the_link, victim, may_list_phi=False, outsider=True, anonymous=True)

    assert not problems, "\n".join(problems)
