"""Issue 8: the long lists a patient, a doctor and a clinic admin use come a page at a time, newest
first, with the total shown; the page links reach every row, and no page shows a study the user may
not see. Pages are made small here (portal.paging.PER_PAGE) so that a few rows make several pages."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from portal import paging
from tests.factories import MembershipFactory, PatientFactory, ShareFactory, StudyFactory, UserFactory

PER_PAGE = 2


@pytest.fixture(autouse=True)
def small_pages(monkeypatch):
    monkeypatch.setattr(paging, "PER_PAGE", PER_PAGE)


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def pages(client, url: str, context_rows) -> list[list]:
    """Every page of the list at `url`, following its "next" links from the first: each page's rows."""
    found = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        found.append(context_rows(response))
        following = re.search(r'href="([^"]+)" rel="next"', response.content.decode())
        url = (response.request["PATH_INFO"] + following.group(1).replace("&amp;", "&")) if following else ""
        assert len(found) <= 10, "the page links go round in circles"
    return found


def dated_studies(tenant, patient, count: int) -> list:
    """`count` studies of `patient`, newest first."""
    today = timezone.localdate()
    return [
        StudyFactory(tenant=tenant, patient=patient, study_date=today - timedelta(days=age))
        for age in range(count)
    ]


def test_my_images_pages_through_every_own_study_and_no_one_elses(tenant, other_tenant):
    person = UserFactory()
    MembershipFactory(user=person, tenant=tenant, role=Role.PATIENT)
    MembershipFactory(user=person, tenant=other_tenant, role=Role.PATIENT)
    own = dated_studies(tenant, PatientFactory(tenant=tenant, account=person), 5)
    elsewhere = dated_studies(other_tenant, PatientFactory(tenant=other_tenant, account=person), 1)
    stranger = StudyFactory(tenant=tenant, patient=PatientFactory(tenant=tenant))
    client = client_of(person)
    url = reverse("my-images")

    def rows(response):
        return next(
            [study for study, _ in section["rows"]]
            for section in response.context["sections"]
            if section["tenant"] == tenant
        )

    found = pages(client, url, rows)

    assert found == [own[0:2], own[2:4], own[4:5]]
    page = client.get(f"{url}?page-{tenant.slug}=2").content.decode()
    assert "5 studies, newest first" in page and "Page 2 of 3" in page
    # The other clinic's list keeps its own first page, and no page shows a stranger's study.
    assert elsewhere[0].study_instance_uid in page
    for number in (1, 2, 3):
        shown = client.get(f"{url}?page-{tenant.slug}={number}").content.decode()
        assert stranger.study_instance_uid not in shown


def test_the_worklist_pages_through_every_shared_study_newest_share_first(tenant, member_factory):
    doctor = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    now = timezone.now()
    studies = [StudyFactory(tenant=tenant) for _ in range(5)]
    for age, study in enumerate(studies):
        ShareFactory(tenant=tenant, study=study, grantee=doctor, created_at=now - timedelta(hours=age))
    unshared = StudyFactory(tenant=tenant)
    client = client_of(doctor)

    found = pages(client, reverse("shared-worklist"), lambda r: [row.study for row in r.context["rows"]])

    assert found == [studies[0:2], studies[2:4], studies[4:5]]
    page = client.get(reverse("shared-worklist") + "?page=3").content.decode()
    assert "5 studies, most recently shared first" in page and "Page 3 of 3" in page
    assert unshared.study_instance_uid not in page


def test_the_clinic_shares_page_keeps_its_filter_from_page_to_page(tenant, member_factory):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    doctor = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    now = timezone.now()
    ended = [
        ShareFactory(tenant=tenant, grantee=doctor, created_at=now - timedelta(hours=age), revoked_at=now)
        for age in range(3)
    ]
    ShareFactory(tenant=tenant, grantee=doctor)
    client = client_of(admin)
    url = reverse("clinic-shares", args=[tenant.slug]) + "?state=ended"

    found = pages(client, url, lambda r: [row.share for row in r.context["rows"]])

    assert found == [ended[0:2], ended[2:3]]
    assert "state=ended&amp;page=2" in client.get(url).content.decode()


def test_the_dashboard_pages_through_the_clinic_and_links_only_what_the_doctor_may_open(
    tenant, member_factory
):
    doctor = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    studies = dated_studies(tenant, PatientFactory(tenant=tenant), 5)
    ShareFactory(tenant=tenant, study=studies[3], grantee=doctor)
    url = reverse("clinic-dashboard", args=[tenant.slug])

    found = pages(client_of(radiologist), url, lambda r: [study for study, _ in r.context["rows"]])
    doctors = pages(client_of(doctor), url, lambda r: r.context["rows"])

    assert found == [studies[0:2], studies[2:4], studies[4:5]]
    assert doctors == [[(studies[3], True)]]
