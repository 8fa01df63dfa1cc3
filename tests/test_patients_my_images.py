"""My images (issue 8): a patient's own studies from every clinic they joined, each labelled with the
clinic, and never anyone else's; each clinic's list audited."""

import re

import pytest
from django.urls import NoReverseMatch, reverse

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from tests.factories import MembershipFactory, PatientFactory, StudyFactory, UserFactory


@pytest.fixture
def person(db):
    return UserFactory(email="ada@example.org")


def patient_of(tenant, user, **study_fields):
    """`user` as a patient of `tenant`, with one study; returns the study."""
    MembershipFactory(user=user, tenant=tenant, role=Role.PATIENT)
    return StudyFactory(tenant=tenant, patient=PatientFactory(tenant=tenant, account=user), **study_fields)


def test_a_patient_sees_their_studies_of_both_clinics_each_labelled(client, tenant, other_tenant, person):
    knee = patient_of(tenant, person, description="MR KNEE", number_of_instances=3)
    chest = patient_of(other_tenant, person, description="CT CHEST")
    client.force_login(person)

    page = client.get(reverse("my-images")).content.decode()

    sections = re.findall(r'data-testid="clinic-name">([^<]+)<', page)
    assert sections == [tenant.name, other_tenant.name]
    assert page.index("MR KNEE") < page.index(other_tenant.name) < page.index("CT CHEST")
    thumbnail = reverse(
        "dicomweb-wado-study-thumbnail",
        kwargs={"tenant_slug": tenant.slug, "study_uid": knee.study_instance_uid},
    )
    assert f'src="{thumbnail}"' in page
    viewer = reverse("viewer-route", kwargs={"tenant_slug": other_tenant.slug, "route": "viewer"})
    assert f"{viewer}?StudyInstanceUIDs={chest.study_instance_uid}" in page
    assert reverse("access-history", kwargs={"tenant_slug": tenant.slug}) in page


def test_never_another_patients_study(client, tenant, other_tenant, person):
    patient_of(tenant, person, description="MR KNEE")
    StudyFactory(
        tenant=tenant,
        description="SOMEONE ELSES HEAD",
        patient=PatientFactory(tenant=tenant, name="Other^Pat"),
    )
    StudyFactory(tenant=other_tenant, description="BRAVO STRANGER")
    client.force_login(person)

    page = client.get(reverse("my-images")).content.decode()

    assert "MR KNEE" in page
    assert "SOMEONE ELSES HEAD" not in page and "Other" not in page
    assert "BRAVO STRANGER" not in page and other_tenant.name not in page


def test_a_staff_role_elsewhere_does_not_list_that_clinics_studies(client, tenant, other_tenant, person):
    patient_of(tenant, person, description="MR KNEE")
    MembershipFactory(user=person, tenant=other_tenant, role=Role.RADIOLOGIST)
    StudyFactory(tenant=other_tenant, description="BRAVO WORK")
    client.force_login(person)

    page = client.get(reverse("my-images")).content.decode()

    assert "MR KNEE" in page and "BRAVO WORK" not in page


def test_each_clinics_list_is_audited(client, tenant, other_tenant, person):
    knee = patient_of(tenant, person)
    chest = patient_of(other_tenant, person)
    client.force_login(person)

    client.get(reverse("my-images"))

    events = AuditEvent.objects.filter(action=AuditAction.VIEW_STUDY_LIST).order_by("sequence")
    assert [(e.tenant, e.actor, e.actor_role, e.object_ids) for e in events] == [
        (tenant, person, Role.PATIENT, [knee.study_instance_uid]),
        (other_tenant, person, Role.PATIENT, [chest.study_instance_uid]),
    ]


def test_the_optional_pages_are_linked_once_they_exist(client, tenant, person):
    study = patient_of(tenant, person)
    client.force_login(person)

    page = client.get(reverse("my-images")).content.decode()

    kwargs = {"tenant_slug": tenant.slug, "study_uid": study.study_instance_uid}
    for name, testid, arguments in (
        ("mobile-viewer", "open-in-light-viewer", kwargs),
        ("study-download", "download", kwargs),
        ("my-consents", "my-consents", None),
    ):
        try:
            url = reverse(name, kwargs=arguments)
        except NoReverseMatch:
            assert f'data-testid="{testid}"' not in page
        else:
            assert f'href="{url}"' in page


def test_no_phi_in_the_title_or_url(client, tenant, person):
    patient_of(tenant, person, description="MR KNEE")
    client.force_login(person)

    page = client.get(reverse("my-images")).content.decode()

    assert re.search(r"<title>(.*?)</title>", page).group(1) == "My images · Palisade"
    assert "Doe" not in page


def test_patients_land_on_my_images_and_staff_on_their_clinic(
    client, tenant, other_tenant, person, member_factory
):
    patient_of(tenant, person)
    patient_of(other_tenant, person)
    client.force_login(person)
    assert client.get(reverse("home"))["Location"] == reverse("my-images")

    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    assert client.get(reverse("home"))["Location"] == reverse(
        "clinic-dashboard", kwargs={"tenant_slug": tenant.slug}
    )


def test_signing_in_is_required(client):
    response = client.get(reverse("my-images"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
