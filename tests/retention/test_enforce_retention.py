"""Retention rules and legal holds: what enforce_retention lists, destroys and keeps."""

import datetime
import io

import pytest
from django.core.management import call_command

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.models import Patient, Study
from imaging.retention.holds import place_hold
from imaging.retention.models import DestructionCertificate, RetentionRule
from imaging.retention.rules import keep_until
from imaging.retention.tasks import enforce_retention_rules
from portal.tenancy import tenant_scope
from tests.factories import UserFactory
from tests.retention.studies import ingest_samples

pytestmark = pytest.mark.django_db

TODAY = datetime.date.today()


def dated(study: Study, *, years_ago: int, born_years_before_study: int) -> Study:
    """Give a real ingested study a known date and patient age (the samples carry arbitrary ones)."""
    study_date = TODAY.replace(year=TODAY.year - years_ago, day=1)
    birth_date = study_date.replace(year=study_date.year - born_years_before_study)
    with tenant_scope(study.tenant):
        Study.objects.filter(pk=study.pk).update(study_date=study_date)
        Patient.objects.filter(pk=study.patient_id).update(birth_date=birth_date)
        return Study.objects.get(pk=study.pk)


def enforce(*args: str) -> str:
    out = io.StringIO()
    call_command("enforce_retention", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def three_studies(tenant, member_factory):
    """An expired adult study, an expired one under a legal hold, and one still within retention."""
    studies = ingest_samples(tenant)
    expired = dated(studies["CT_small.dcm"], years_ago=12, born_years_before_study=40)
    held = dated(studies["MR_small.dcm"], years_ago=12, born_years_before_study=40)
    recent = dated(studies["DX_dog.dcm"], years_ago=3, born_years_before_study=40)
    with tenant_scope(tenant):
        RetentionRule.objects.create(tenant=tenant, years_after_study=10)
        admin = member_factory(tenant, Role.TENANT_ADMIN)
        place_hold(tenant, placed_by=admin, reason="Litigation 2026-17", study=held)
    return expired, held, recent


def test_the_dry_run_lists_the_expired_study_and_not_the_held_one(tenant, three_studies):
    expired, held, recent = three_studies

    output = enforce("--dry-run")

    assert f"study #{expired.pk} {expired.study_instance_uid}: retention ended" in output
    assert "would destroy" in output
    assert held.study_instance_uid not in output and recent.study_instance_uid not in output
    assert f"Tenant {tenant.slug}: 2 past retention, 1 to destroy, 1 on legal hold" in output
    with tenant_scope(tenant):
        assert Study.objects.count() == 3
        assert not DestructionCertificate.objects.exists()


def test_the_real_run_destroys_only_the_expired_study_with_a_certificate(tenant, three_studies):
    expired, held, recent = three_studies

    output = enforce()

    assert f"study #{expired.pk} {expired.study_instance_uid}: retention ended" in output
    assert "1 destroyed, 1 on legal hold" in output
    with tenant_scope(tenant):
        assert set(Study.objects.values_list("pk", flat=True)) == {held.pk, recent.pk}
        certificate = DestructionCertificate.objects.get()
    assert certificate.basis == DestructionCertificate.Basis.RETENTION
    assert certificate.study_instance_uid == expired.study_instance_uid
    assert AuditEvent.objects.get(action=AuditAction.STUDY_DESTROYED).pk == certificate.audit_event_id
    # A second run finds nothing more to do.
    assert "0 destroyed" in enforce()


def test_a_rule_for_one_modality_leaves_other_modalities_alone(tenant):
    studies = ingest_samples(tenant, ["CT_small.dcm", "MR_small.dcm"])
    ct = dated(studies["CT_small.dcm"], years_ago=12, born_years_before_study=40)
    mr = dated(studies["MR_small.dcm"], years_ago=12, born_years_before_study=40)
    with tenant_scope(tenant):
        RetentionRule.objects.create(tenant=tenant, modality="MR", years_after_study=10)

    output = enforce("--dry-run")

    assert mr.study_instance_uid in output and ct.study_instance_uid not in output


def test_an_adult_is_kept_n_years_after_the_study():
    rule = RetentionRule(years_after_study=10, age_of_majority=18, minor_until_age=25)

    assert keep_until(rule, datetime.date(2010, 5, 1), datetime.date(1970, 1, 1)) == datetime.date(2020, 5, 1)


def test_a_minor_is_kept_until_the_age_in_the_rule_when_that_is_later():
    rule = RetentionRule(years_after_study=10, age_of_majority=18, minor_until_age=25)
    born = datetime.date(2005, 3, 1)

    # Imaged at 2: 10 years later they are 12, so the record stays until their 25th birthday.
    assert keep_until(rule, datetime.date(2007, 3, 1), born) == datetime.date(2030, 3, 1)
    # Imaged at 17: 10 years later (age 27) is later than the 25th birthday.
    assert keep_until(rule, datetime.date(2022, 6, 1), born) == datetime.date(2032, 6, 1)


def test_the_daily_task_destroys_every_clinics_expired_studies(tenant, three_studies):
    expired, held, recent = three_studies

    assert enforce_retention_rules() == 1

    with tenant_scope(tenant):
        assert not Study.objects.filter(pk=expired.pk).exists()
        assert Study.objects.filter(pk__in=[held.pk, recent.pk]).count() == 2


@pytest.mark.parametrize("model", ["retentionrule", "legalhold", "erasurerequest", "destructioncertificate"])
def test_platform_operators_see_retention_rows_in_the_admin(tenant, three_studies, client, model):
    enforce()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    assert client.get(f"/admin/retention/{model}/").status_code == 200
