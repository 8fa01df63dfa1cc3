"""Issue 8's acceptance: the doctor's worklist shows a study shared from each of two clinics, and each
one no longer once its share has expired (the clock moved on, nothing else changed)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from tests.factories import PatientFactory, ShareFactory, StudyFactory, UserFactory
from tests.sessions import freeze_clock


@pytest.fixture
def doctor(tenant, other_tenant, member_factory):
    user = member_factory(tenant, Role.REFERRING_PHYSICIAN, user=UserFactory(email="dr.grey@example.org"))
    member_factory(other_tenant, Role.REFERRING_PHYSICIAN, user=user)
    return user


def worklist(doctor):
    """The worklist page as the doctor, signed in afresh (at the frozen clock's time)."""
    client = Client()
    client.force_login(doctor)
    response = client.get(reverse("shared-worklist"))
    assert response.status_code == 200
    return response


def test_the_worklist_shows_a_study_from_each_of_two_clinics_until_each_share_expires(
    monkeypatch, tenant, other_tenant, doctor
):
    clock = freeze_clock(monkeypatch)
    head = StudyFactory(
        tenant=tenant,
        patient=PatientFactory(tenant=tenant, name="Doe^Jane"),
        description="CT HEAD",
        modalities_in_study="CT",
    )
    knee = StudyFactory(
        tenant=other_tenant,
        patient=PatientFactory(tenant=other_tenant, name="Roe^Rick"),
        description="MR KNEE",
        modalities_in_study="MR",
    )
    ShareFactory(tenant=tenant, study=head, grantee=doctor, expires_at=clock.now + timedelta(days=2))
    ShareFactory(tenant=other_tenant, study=knee, grantee=doctor, expires_at=clock.now + timedelta(days=5))
    StudyFactory(tenant=tenant, description="NOT SHARED")

    response = worklist(doctor)
    assert {(row.tenant, row.study) for row in response.context["rows"]} == {
        (tenant, head),
        (other_tenant, knee),
    }
    page = response.content.decode()
    for text in ("Alpha Imaging", "Bravo Radiology", "CT HEAD", "MR KNEE", "Doe^Jane", "Roe^Rick"):
        assert text in page
    assert "NOT SHARED" not in page

    clock.advance(days=2)  # Alpha's share ends at this very moment
    response = worklist(doctor)
    assert [(row.tenant, row.study) for row in response.context["rows"]] == [(other_tenant, knee)]
    page = response.content.decode()
    assert "MR KNEE" in page and "CT HEAD" not in page and "Doe^Jane" not in page

    clock.advance(days=3)
    response = worklist(doctor)
    assert response.context["rows"] == []
    page = response.content.decode()
    assert 'data-testid="worklist-empty"' in page
    assert "CT HEAD" not in page and "MR KNEE" not in page
