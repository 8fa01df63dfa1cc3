"""Each figure on the compliance report, read off the page and checked against the clinic built in a
known state (conftest.known_clinic) or against the database."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse

from audit.chain import chain_of
from audit.models import AuditAction, AuditCheckpoint, AuditEvent
from imaging.models import StoredObject
from imaging.replication.models import ObjectCopy
from portal.tenancy import tenant_scope
from tests.compliance.conftest import attribute, figure


@pytest.fixture
def report(known_clinic, client) -> bytes:
    client.force_login(known_clinic.admin)
    response = client.get(reverse("compliance-report", kwargs={"tenant_slug": known_clinic.tenant.slug}))
    assert response.status_code == 200
    return response.content


def test_the_report_names_the_clinic_and_its_date(known_clinic, report):
    assert figure(report, "report-clinic") == "Alpha Imaging"
    assert figure(report, "report-date").startswith(known_clinic.today.isoformat())


def test_mfa_coverage_is_counted_per_role_from_confirmed_devices(report):
    expected = {
        "tenant_admin": ("1", "1", "100%", "yes"),
        "radiologist": ("2", "1", "50%", "yes"),
        "referring_physician": ("1", "1", "100%", "yes"),
        "auditor": ("1", "0", "0%", "yes"),
        "patient": ("2", "0", "0%", "no"),
    }
    for role, (members, with_mfa, percent, required) in expected.items():
        assert figure(report, f"mfa-{role}-members") == members, role
        assert figure(report, f"mfa-{role}-with") == with_mfa, role
        assert figure(report, f"mfa-{role}-percent") == percent, role
        assert figure(report, f"mfa-{role}-required") == required, role
    # Billing's only member is deactivated; technologists have none.
    assert 'data-testid="mfa-billing"' not in report.decode()
    assert figure(report, "mfa-total-members") == "7"
    assert figure(report, "mfa-total-with") == "3"


def test_accounts_without_a_sign_in_for_90_days_are_listed_by_id(known_clinic, report):
    assert figure(report, "stale-count") == "2"
    page = report.decode()
    assert f'data-user-id="{known_clinic.stale_radiologist.pk}"' in page
    assert f'data-user-id="{known_clinic.stale_patient.pk}"' in page
    for fresh in (
        known_clinic.new_patient,
        known_clinic.auditor,
        known_clinic.radiologist,
        known_clinic.doctor,
    ):
        assert f'data-user-id="{fresh.pk}"' not in page


def test_every_stored_object_is_counted_sealed_under_its_study_key(known_clinic, report):
    assert figure(report, "enc-objects") == "3"
    assert figure(report, "enc-sealed") == "3"
    assert figure(report, "enc-awaiting") == "0"
    assert figure(report, "enc-unsealed") == "0"
    assert figure(report, "enc-key-version").startswith("1")
    assert figure(report, "enc-study-keys") == "3"
    assert figure(report, "enc-study-keys-current") == "3"


def test_the_last_scrub_pass_and_its_counts(report):
    # CT and MR: home and eu-2; DX: home only (its copy is still pending, the replication's to make).
    assert figure(report, "scrub-state").startswith("finished")
    assert figure(report, "scrub-checked") == "5"
    assert figure(report, "scrub-repaired") == "0"
    assert figure(report, "scrub-unrepairable") == "0"


def test_replication_lag_is_the_age_of_the_oldest_pending_copy(report):
    assert figure(report, "repl-regions") == "eu-2"
    assert figure(report, "repl-pending") == "1"
    assert figure(report, "repl-ok") == "2"
    assert figure(report, "repl-failed") == "0"
    seconds = int(attribute(report, "repl-lag", "data-seconds"))
    assert 2 * 3600 <= seconds < 2 * 3600 + 120
    assert figure(report, "repl-lag") == "2 h 0 min"


def test_storage_per_region_adds_home_objects_and_verified_copies(known_clinic, report):
    with tenant_scope(known_clinic.tenant):
        home_bytes = StoredObject.objects.aggregate(total=Sum("ciphertext_size"))["total"]
        copy_bytes = ObjectCopy.objects.filter(state=ObjectCopy.State.OK).aggregate(
            total=Sum("stored_object__ciphertext_size")
        )["total"]
    assert (figure(report, "storage-eu-1-objects"), figure(report, "storage-eu-1-copies")) == ("3", "0")
    assert (figure(report, "storage-eu-2-objects"), figure(report, "storage-eu-2-copies")) == ("0", "2")
    assert int(attribute(report, "storage-eu-1-bytes", "data-bytes")) == home_bytes
    assert int(attribute(report, "storage-eu-2-bytes", "data-bytes")) == copy_bytes
    assert 'data-testid="storage-us-1"' not in report.decode()


def test_no_restore_drill_is_said_so(report):
    assert "No restore drill" in figure(report, "restore-none")


def test_the_audit_chain_is_verified_up_to_the_report_and_names_its_last_checkpoint(known_clinic, report):
    chain = chain_of(known_clinic.tenant.pk)
    viewed = AuditEvent.objects.get(chain=chain, action=AuditAction.COMPLIANCE_REPORT_VIEWED)
    # Verified before the report's own event was written: every event before it.
    assert figure(report, "chain-events") == str(viewed.sequence - 1)
    assert attribute(report, "chain-intact", "data-intact") == "true"
    checkpoint = AuditCheckpoint.objects.filter(chain=chain).order_by("-sequence").first()
    assert figure(report, "chain-checkpoint").startswith(f"event {checkpoint.sequence}, signed")


def test_open_alerts_leave_out_the_acknowledged_one(report):
    assert figure(report, "alerts-open") == "1"
    assert figure(report, "alerts-kind-break_glass") == "Break-the-glass access: 1"


def test_transmission_security_reads_the_settings_and_the_clinics_peers(report):
    # The test settings serve plain HTTP (tests/settings.py).
    assert figure(report, "tx-https") == "no, no"
    assert figure(report, "tx-peers") == "2"
    assert figure(report, "tx-peers-tls") == "1"


def test_agreements_in_force_and_expiring(known_clinic, report):
    assert figure(report, "agreement-dpa-state") == "in force"
    assert figure(report, "agreement-terms-state") == "expiring"
    assert figure(report, "agreement-dpa-version") == str(known_clinic.agreement_versions["dpa"])
    assert figure(report, "agreement-terms-version") == str(known_clinic.agreement_versions["terms"])
    assert 'data-testid="agreement-baa"' not in report.decode()


def test_consents_count_patients_by_their_latest_decision(report):
    assert figure(report, "consent-research_deidentified-granted") == "1"
    assert figure(report, "consent-research_deidentified-withdrawn") == "1"
    assert figure(report, "consent-research_deidentified-decisions") == "3"
    assert figure(report, "consent-share_with_named_doctors-granted") == "0"


def test_retention_rules_holds_and_erasures(report):
    assert attribute(report, "retention-rules", "data-count") == "1"
    assert figure(report, "retention-overdue") == "1"
    assert figure(report, "retention-held") == "1"
    assert figure(report, "retention-undated") == "2"
    assert figure(report, "holds-active") == "1"
    assert figure(report, "holds-released") == "1"
    assert figure(report, "erasures-pending") == "1"
    assert figure(report, "destroyed") == "none"


def test_ingestion_per_day_counts_stored_and_refused_objects(known_clinic, report):
    today = known_clinic.today
    three_days_ago = (today - timedelta(days=3)).isoformat()
    assert figure(report, f"ingestion-{today.isoformat()}-ingested") == "2"
    assert figure(report, f"ingestion-{today.isoformat()}-rejected") == "1"
    assert figure(report, f"ingestion-{three_days_ago}-ingested") == "1"
    assert figure(report, f"ingestion-{(today - timedelta(days=29)).isoformat()}-ingested") == "0"
    assert 'data-testid="ingestion-' + (today - timedelta(days=30)).isoformat() not in report.decode()


def test_access_per_role_counts_successful_study_accesses_of_the_last_30_days(report):
    assert figure(report, "access-radiologist") == "3"
    assert figure(report, "access-referring_physician") == "2"
    assert figure(report, "access-patient") == "1"
    assert 'data-testid="access-technologist"' not in report.decode()


def test_each_safeguard_gets_the_status_its_rule_gives(report):
    expected = {
        "hipaa-access-control": "attention",  # two stale accounts
        "hipaa-encryption": "met",
        "hipaa-audit": "attention",  # an open alert
        "hipaa-integrity": "met",
        "hipaa-authentication": "not_met",  # the auditor and a radiologist have no second factor
        "hipaa-transmission": "not_met",  # plain HTTP in the tests
        "gdpr-5": "attention",  # a study past retention, not held, not destroyed
        "gdpr-17": "met",
        "gdpr-30": "attention",  # the terms expire in 20 days
        "gdpr-32": "attention",  # replication two hours behind, no restore drill
    }
    assert {key: attribute(report, f"safeguard-{key}", "data-status") for key in expected} == expected
    assert figure(report, "safeguard-hipaa-authentication-findings") == (
        "2 member(s) of roles that must use MFA have no authenticator app or passkey."
    )
    assert figure(report, "safeguard-gdpr-32-findings") == (
        "Replication lags more than an hour behind. No restore drill is recorded."
    )
