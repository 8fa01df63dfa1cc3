"""A clinic in a known state for the compliance report: members with and without a second factor, stale
accounts, studies stored through the real ingestion pipeline and replicated, a finished scrub, an open
alert, agreements, consents, retention rules and holds, and study accesses in the audit trail. Each
test then reads a figure off the report and checks it against what was built, or the database."""

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.utils import timezone
from lxml import html

from accounts.models import Membership, User
from accounts.roles import Role
from audit import services as audit
from audit.alerts.models import Alert
from audit.alerts.services import acknowledge
from audit.checkpoints import sign_checkpoints
from audit.models import AuditAction, Outcome
from imaging.dimse.models import RemoteAE
from imaging.models import IngestJob, StoredObject, Study
from imaging.replication.models import ObjectCopy
from imaging.replication.scrub import scrub_tenant
from imaging.retention.erasure import request_erasure
from imaging.retention.holds import place_hold, release_hold
from imaging.retention.models import RetentionRule
from portal.agreements import services as agreements
from portal.agreements.models import AgreementAcceptance, AgreementKind, AgreementText
from portal.consents import services as consents
from portal.consents.models import ConsentPurpose
from portal.sharing.break_glass import break_glass
from portal.tenancy import tenant_scope
from tests.factories import PatientFactory, StudyFactory
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import ingest
from tests.mfa import give_authenticator_app
from tests.replication.conftest import replicate_pending, set_replicas


def figure(page: bytes | str, testid: str) -> str:
    """The text of the one element of the page marked data-testid=`testid`, whitespace collapsed."""
    found = html.fromstring(page).xpath("//*[@data-testid=$testid]", testid=testid)
    assert len(found) == 1, f"{len(found)} elements marked {testid!r}"
    return " ".join(found[0].text_content().split())


def cells(page: bytes | str, testid: str) -> list[str]:
    """The texts of the header and data cells of the table row marked data-testid=`testid`."""
    (row,) = html.fromstring(page).xpath("//*[@data-testid=$testid]", testid=testid)
    return [" ".join(cell.text_content().split()) for cell in row.xpath("./th|./td")]


def attribute(page: bytes | str, testid: str, name: str) -> str:
    (found,) = html.fromstring(page).xpath("//*[@data-testid=$testid]", testid=testid)
    return found.get(name)


def publish(kind: str, *, term_days: int = 365) -> AgreementText:
    """A new version of the platform's text of `kind`, current from now on."""
    latest = AgreementText.objects.filter(kind=kind).order_by("-version").first()
    return AgreementText.objects.create(
        kind=kind,
        version=(latest.version + 1) if latest else 1,
        title=f"{AgreementKind(kind).label} (test)",
        body=f"The {kind} text the tests sign.",
        term_days=term_days,
    )


def forget_agreements(tenant) -> None:
    """Start the clinic without acceptances, whatever its factory signed."""
    with tenant_scope(tenant):
        AgreementAcceptance.objects.filter(tenant=tenant).delete()


def sign(tenant, kind: str, signer: User, *, term_days: int = 365) -> AgreementAcceptance:
    return agreements.accept(
        tenant,
        publish(kind, term_days=term_days),
        signer=signer,
        signer_name="Test Signer",
        signer_role="Director",
    )


@dataclass
class KnownClinic:
    tenant: object
    admin: User
    auditor: User
    radiologist: User
    stale_radiologist: User
    doctor: User
    stale_patient: User
    new_patient: User
    studies: dict
    agreement_versions: dict
    today: date


def _member(member_factory, tenant, role, *, mfa: bool, last_login=None, joined=None, active=True) -> User:
    user = member_factory(tenant, role)
    if mfa:
        give_authenticator_app(user)
    User.objects.filter(pk=user.pk).update(last_login=last_login, is_active=active)
    if joined is not None:
        Membership.objects.filter(user=user, tenant=tenant).update(created_at=joined)
    user.refresh_from_db()
    return user


def _members(tenant, other_tenant, member_factory, now) -> dict[str, User]:
    made = {
        "admin": _member(member_factory, tenant, Role.TENANT_ADMIN, mfa=True, last_login=now),
        "auditor": _member(member_factory, tenant, Role.AUDITOR, mfa=False),
        "radiologist": _member(
            member_factory, tenant, Role.RADIOLOGIST, mfa=True, last_login=now - timedelta(days=10)
        ),
        "stale_radiologist": _member(
            member_factory, tenant, Role.RADIOLOGIST, mfa=False, last_login=now - timedelta(days=100)
        ),
        # Signed in 89 days ago: not yet stale.
        "doctor": _member(
            member_factory, tenant, Role.REFERRING_PHYSICIAN, mfa=True, last_login=now - timedelta(days=89)
        ),
        "stale_patient": _member(
            member_factory, tenant, Role.PATIENT, mfa=False, joined=now - timedelta(days=120)
        ),
        "new_patient": _member(member_factory, tenant, Role.PATIENT, mfa=False),
    }
    # Neither counts: a deactivated account, and another clinic's member.
    _member(
        member_factory, tenant, Role.BILLING, mfa=False, last_login=now - timedelta(days=200), active=False
    )
    _member(member_factory, other_tenant, Role.RADIOLOGIST, mfa=True)
    return made


def _store_and_replicate(tenant, tmp_path, now) -> dict[str, Study]:
    """CT and MR replicated to eu-2; DX stored and waiting two hours for its copy; DX again (a
    duplicate), and a file that is no DICOM (refused). The CT arrived three days ago."""
    set_replicas(tenant, "eu-2")
    jobs = {name: ingest(tenant, SAMPLES / name) for name in ("CT_small.dcm", "MR_small.dcm")}
    replicate_pending(tenant)
    jobs["DX_dog.dcm"] = ingest(tenant, SAMPLES / "DX_dog.dcm")
    duplicate = ingest(tenant, SAMPLES / "DX_dog.dcm")
    junk = tmp_path / "not-dicom.dcm"
    junk.write_bytes(b"this is not a DICOM file" * 10)
    refused = ingest(tenant, junk)
    assert [job.state for job in jobs.values()] == ["stored"] * 3
    assert (duplicate.state, refused.state) == ("duplicate", "rejected")
    with tenant_scope(tenant):
        IngestJob.objects.filter(pk=jobs["CT_small.dcm"].pk).update(created_at=now - timedelta(days=3))
        ObjectCopy.objects.filter(state=ObjectCopy.State.PENDING).update(created_at=now - timedelta(hours=2))
        return {
            name: StoredObject.objects.get(pk=job.stored_object_id).instance.series.study
            for name, job in jobs.items()
        }


def _agreements_and_consents(tenant, people, studies) -> dict[str, int]:
    forget_agreements(tenant)
    signed = [sign(tenant, "dpa", people["admin"]), sign(tenant, "terms", people["admin"], term_days=20)]
    with tenant_scope(tenant):
        text = consents.publish_text(
            tenant=tenant,
            purpose=ConsentPurpose.RESEARCH_DEIDENTIFIED,
            text="Research use.",
            actor=people["admin"],
        )
        ct_patient = studies["CT_small.dcm"].patient
        mr_patient = studies["MR_small.dcm"].patient
    for patient, grants in ((ct_patient, [True]), (mr_patient, [True, False])):
        for grant in grants:
            consents.decide(
                patient=patient,
                purpose=text.purpose,
                grant=grant,
                version=text.version,
                actor=people["admin"],
            )
    return {acceptance.text.kind: acceptance.text.version for acceptance in signed}


def _retention(tenant, people, studies) -> None:
    """Every modality kept ten years: one old adult study overdue, one held; CT and MR carry no birth
    date (kept); the DX patient is a minor until 2039. One hold released; one erasure request open."""
    with tenant_scope(tenant):
        RetentionRule.objects.create(tenant=tenant, years_after_study=10)
        old = [
            StudyFactory(
                tenant=tenant,
                study_date=date(2000, 1, 1),
                patient=PatientFactory(tenant=tenant, birth_date=date(1950, 1, 1)),
            )
            for _ in range(2)
        ]
        place_hold(tenant, placed_by=people["admin"], reason="Litigation 42", study=old[1])
        released = place_hold(tenant, placed_by=people["admin"], reason="Audit 7", patient=old[0].patient)
        release_hold(released, released_by=people["admin"], reason="Audit closed")
        request_erasure(studies["DX_dog.dcm"], requested_by=people["admin"], reason="Patient request 12")


def _alerts_and_access(tenant, other_tenant, people, studies, now) -> None:
    """Two break-the-glass alerts, one acknowledged; study accesses by role, and events that are not
    accesses, failed, of another clinic or older than 30 days."""
    with tenant_scope(tenant):
        for name in ("CT_small.dcm", "MR_small.dcm"):
            break_glass(people["doctor"], studies[name], "Emergency department, unconscious patient")
        first = Alert.objects.order_by("pk").first()
        acknowledge(first, by=people["auditor"])
    uid = studies["CT_small.dcm"].study_instance_uid

    def access(action, role, *, tenant=tenant, outcome=Outcome.SUCCESS, occurred_at=None):
        event = audit.event(
            action, tenant=tenant, actor_role=role, outcome=outcome, object_type="study", object_ids=[uid]
        )
        if occurred_at is not None:
            event.occurred_at = occurred_at
        audit.record_all([event])

    for _ in range(3):
        access(AuditAction.VIEW_STUDY, Role.RADIOLOGIST)
    access(AuditAction.RETRIEVE, Role.REFERRING_PHYSICIAN)
    access(AuditAction.RETRIEVE, Role.REFERRING_PHYSICIAN)
    access(AuditAction.DOWNLOAD, Role.PATIENT)
    access(AuditAction.VIEW_STUDY, Role.RADIOLOGIST, outcome=Outcome.FAILURE)
    access(AuditAction.QUERY, Role.RADIOLOGIST)
    access(AuditAction.VIEW_STUDY, Role.TECHNOLOGIST, occurred_at=now - timedelta(days=40))
    access(AuditAction.VIEW_STUDY, Role.RADIOLOGIST, tenant=other_tenant)


def _peers(tenant) -> None:
    with tenant_scope(tenant):
        RemoteAE.objects.create(tenant=tenant, ae_title="CT-1", tls_subject="CN=ct-1,O=Alpha Imaging")
        RemoteAE.objects.create(tenant=tenant, ae_title="MR-1")
        RemoteAE.objects.create(tenant=tenant, ae_title="OLD-PACS", is_active=False)


@pytest.fixture
def known_clinic(tenant, other_tenant, member_factory, tmp_path) -> KnownClinic:
    now = timezone.now()
    people = _members(tenant, other_tenant, member_factory, now)
    studies = _store_and_replicate(tenant, tmp_path, now)
    versions = _agreements_and_consents(tenant, people, studies)
    _retention(tenant, people, studies)
    _alerts_and_access(tenant, other_tenant, people, studies, now)
    _peers(tenant)
    with tenant_scope(tenant):
        scrub_tenant(tenant)
    sign_checkpoints()
    return KnownClinic(
        tenant=tenant, studies=studies, agreement_versions=versions, today=now.date(), **people
    )
