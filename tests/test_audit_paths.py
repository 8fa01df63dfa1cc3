"""Issue 7's acceptance matrix: each audited action, done for real through each access path (pages, the
REST API, DICOMweb, DIMSE, share links, management commands), leaves exactly the expected new events:
as many of each action as expected and no other, each with its actor, role, clinic, outcome, object
identifiers and key details, and no PHI (the patient's name or birth date) anywhere in the event.

Each path has a table: one row per action, naming a case that prepares what the action needs, then
returns the action (`act`) and the events it must leave (`expect`, read after the action so that it
may name what the action created). The events are those written between the two.
"""

import io
import json
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from accounts.models import ApiToken
from accounts.roles import Role
from accounts.tokens import issue_token
from audit.alerts.models import Alert
from audit.chain import chain_of
from audit.models import AuditAction, AuditEvent, Outcome
from imaging.crypto.models import TenantKey
from imaging.dimse.services import register_remote_ae
from imaging.models import IngestJob, Patient, Study
from imaging.tasks import index_received_objects
from portal.sharing.models import BreakGlassGrant, Share, ShareLink
from portal.tenancy import tenant_scope
from tests.dicomweb.stow import related_body, related_type, sample, stow_url
from tests.dicomweb.wado import ALL_SYNTAXES, body, ingest_sample

# The listener's fixtures, for the DIMSE rows below (test_dimse names them).
from tests.dimse.conftest import modality, scp, scp_factory  # noqa: F401
from tests.dimse.query_retrieve import STUDY_ROOT, get, keys, move, storescp
from tests.factories import (
    PatientFactory,
    ShareFactory,
    ShareLinkFactory,
    StudyFactory,
    TenantFactory,
    UserFactory,
)
from tests.ingest.samples import SAMPLES
from tests.mfa import PASSWORD, give_authenticator_app, totp_code

A = AuditAction
LOOPBACK = "127.0.0.1"
VISITOR = "share_link_visitor"
PIN = "482193"
# The patient's name and birth date (as the index and as DICOM write them), and those of the sample files
# stored below (CT_small, MR_small: CompressedSamples^..; DX_dog: Dog^AVeryGood, born 2014-04-22): none
# may appear in any event.
PATIENT_NAME = "Phiname^Hidden"
BIRTH_DATE = date(1954, 3, 7)
PHI = (
    "Phiname",
    "Hidden",
    "1954-03-07",
    "19540307",
    "CompressedSamples",
    "AVeryGood",
    "20140422",
    "2014-04-22",
)


# --- What an action must leave ----------------------------------------------------------------------------


@dataclass
class Expect:
    """One expected event: each field as given (None: no actor, no clinic, no address), and `details`
    naming the keys that must have these values (an event may carry more)."""

    action: AuditAction
    actor: Any = None
    role: str = ""
    tenant: Any = None
    outcome: str = Outcome.SUCCESS
    object_type: str = ""
    object_ids: list = field(default_factory=list)
    details: dict = field(default_factory=dict)
    source_address: str | None = LOOPBACK

    def mismatches(self, event: AuditEvent) -> list[str]:
        wanted = {
            "actor_id": getattr(self.actor, "pk", None),
            "actor_role": self.role,
            "tenant_id": getattr(self.tenant, "pk", None),
            "outcome": self.outcome,
            "object_type": self.object_type,
            "object_ids": self.object_ids,
            "source_address": self.source_address,
        }
        found = {name: getattr(event, name) for name in wanted}
        wrong = [
            f"{name}: {found[name]!r}, expected {value!r}"
            for name, value in wanted.items()
            if found[name] != value
        ]
        wrong += [
            f"details[{key!r}]: {event.details.get(key, '<missing>')!r}, expected {value!r}"
            for key, value in self.details.items()
            if event.details.get(key, "<missing>") != value
        ]
        return wrong


@dataclass
class Case:
    act: Callable[[], Any]
    expect: Callable[[], list[Expect]]
    # The HTTP status the action answers with, when it is a request.
    status: int | None = None


def newest_event_id() -> int:
    return AuditEvent.objects.aggregate(newest=Max("id"))["newest"] or 0


def as_json(event: AuditEvent) -> str:
    return json.dumps(
        {f.attname: getattr(event, f.attname) for f in event._meta.concrete_fields}, default=str
    )


def assert_events(since: int, expected: list[Expect]) -> list[AuditEvent]:
    """The events written after `since` are exactly `expected` (in any order), and carry no PHI."""
    events = list(AuditEvent.objects.filter(id__gt=since).order_by("id"))
    shown = "\n".join(as_json(event) for event in events)
    assert Counter(event.action for event in events) == Counter(e.action for e in expected), shown
    unmatched = list(events)
    for wanted in expected:
        candidates = [event for event in unmatched if event.action == wanted.action]
        best = min(candidates, key=lambda event: len(wanted.mismatches(event)))
        assert not wanted.mismatches(best), f"{wanted.action}: {wanted.mismatches(best)}\n{shown}"
        unmatched.remove(best)
    for event in events:
        written = as_json(event)
        assert not [value for value in PHI if value in written], written
    return events


def run(case: Case) -> list[AuditEvent]:
    since = newest_event_id()
    result = case.act()
    if case.status is not None:
        assert result.status_code == case.status, getattr(result, "content", b"")[:500]
    return assert_events(since, case.expect())


# --- The clinic --------------------------------------------------------------------------------------------


@dataclass
class World:
    tenant: Any
    other_tenant: Any
    client: Any
    patient: Patient
    study: Study
    radiologist: Any
    admin: Any
    auditor: Any
    doctor: Any
    technologist: Any
    outsider: Any  # a radiologist of the other clinic
    other_study: Study

    def signed_in(self, user):
        self.client.force_login(user)
        return self.client


def patient_with_phi(tenant) -> Patient:
    return PatientFactory(tenant=tenant, patient_id="PID-AUDIT-1", name=PATIENT_NAME, birth_date=BIRTH_DATE)


@pytest.fixture
def world(tenant, other_tenant, member_factory, client) -> World:
    patient = patient_with_phi(tenant)
    return World(
        tenant=tenant,
        other_tenant=other_tenant,
        client=client,
        patient=patient,
        study=StudyFactory(tenant=tenant, patient=patient),
        radiologist=member_factory(tenant, Role.RADIOLOGIST),
        admin=member_factory(tenant, Role.TENANT_ADMIN),
        auditor=member_factory(tenant, Role.AUDITOR),
        doctor=member_factory(tenant, Role.REFERRING_PHYSICIAN),
        technologist=member_factory(tenant, Role.TECHNOLOGIST),
        outsider=member_factory(other_tenant, Role.RADIOLOGIST),
        other_study=StudyFactory(tenant=other_tenant, patient=patient_with_phi(other_tenant)),
    )


# --- Pages -------------------------------------------------------------------------------------------------


def page_sign_in(w: World) -> Case:
    give_authenticator_app(w.radiologist)

    def act():
        password = w.client.post(reverse("login"), {"username": w.radiologist.email, "password": PASSWORD})
        assert password.status_code == 302
        # The second step: the password alone reaches nothing but this form (accounts.mfa).
        return w.client.post(reverse("mfa:verify"), {"code": totp_code()})

    return Case(
        act,
        lambda: [
            Expect(A.SIGN_IN, actor=w.radiologist),
            Expect(
                A.MFA_VERIFIED,
                actor=w.radiologist,
                object_type="user",
                object_ids=[str(w.radiologist.pk)],
                details={"kind": "totp"},
            ),
        ],
        status=302,
    )


def page_sign_in_failed(w: World) -> Case:
    return Case(
        lambda: w.client.post(
            reverse("login"), {"username": w.radiologist.email, "password": "wrong-password"}
        ),
        lambda: [Expect(A.SIGN_IN_FAILED, outcome=Outcome.FAILURE)],
        status=200,
    )


def page_sign_out(w: World) -> Case:
    w.signed_in(w.radiologist)
    return Case(
        lambda: w.client.post(reverse("logout")),
        lambda: [Expect(A.SIGN_OUT, actor=w.radiologist)],
        status=302,
    )


def page_study_list(w: World) -> Case:
    w.signed_in(w.radiologist)
    return Case(
        lambda: w.client.get(reverse("clinic-dashboard", args=[w.tenant.slug])),
        lambda: [
            Expect(
                A.VIEW_STUDY_LIST,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="study",
                object_ids=[w.study.study_instance_uid],
            )
        ],
        status=200,
    )


def page_study(w: World) -> Case:
    w.signed_in(w.radiologist)
    return Case(
        lambda: w.client.get(reverse("study-detail", args=[w.tenant.slug, w.study.study_instance_uid])),
        lambda: [
            Expect(
                A.VIEW_STUDY,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="study",
                object_ids=[w.study.study_instance_uid],
            )
        ],
        status=200,
    )


def page_share(w: World) -> Case:
    w.signed_in(w.radiologist)
    last_day = timezone.localdate() + timedelta(days=7)

    def expect():
        with tenant_scope(w.tenant):
            share = Share.objects.get()
        return [
            Expect(
                A.SHARE_GRANTED,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="share",
                object_ids=[str(share.pk)],
                details={
                    "study": w.study.study_instance_uid,
                    "grantee": str(w.doctor.pk),
                    "invited": False,
                    "allow_download": False,
                },
            )
        ]

    return Case(
        lambda: w.client.post(
            reverse("study-share", args=[w.tenant.slug, w.study.study_instance_uid]),
            {
                "recipient": "member",
                "email": w.doctor.email,
                "scope": "study",
                "last_day": last_day.isoformat(),
                "note": "",
            },
        ),
        expect,
        status=302,
    )


def page_share_revoke(w: World) -> Case:
    share = ShareFactory(tenant=w.tenant, study=w.study, grantee=w.doctor, granted_by=w.radiologist)
    w.signed_in(w.radiologist)
    return Case(
        lambda: w.client.post(reverse("share-revoke", args=[w.tenant.slug, share.pk])),
        lambda: [
            Expect(
                A.SHARE_REVOKED,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="share",
                object_ids=[str(share.pk)],
                details={"study": w.study.study_instance_uid, "grantee": str(w.doctor.pk), "by": "sharer"},
            )
        ],
        status=302,
    )


def page_share_link_create(w: World) -> Case:
    w.signed_in(w.radiologist)

    def expect():
        with tenant_scope(w.tenant):
            link = ShareLink.objects.get()
        return [
            Expect(
                A.SHARE_LINK_CREATED,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="share_link",
                object_ids=[str(link.pk), w.study.study_instance_uid],
                details={"protection": "pin", "allow_download": False},
            )
        ]

    return Case(
        lambda: w.client.post(
            reverse("share-link-new", args=[w.tenant.slug, w.study.study_instance_uid]),
            {"label": "Second opinion", "expires_in": "7d", "protection": "pin", "pin": PIN},
        ),
        expect,
        status=200,
    )


def page_share_link_revoke(w: World) -> Case:
    link = ShareLinkFactory(tenant=w.tenant, studies=[w.study], created_by=w.radiologist)
    w.signed_in(w.radiologist)
    return Case(
        lambda: w.client.post(reverse("share-link-revoke", args=[w.tenant.slug, link.pk])),
        lambda: [
            Expect(
                A.SHARE_LINK_REVOKED,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="share_link",
                object_ids=[str(link.pk)],
            )
        ],
        status=302,
    )


def page_break_glass(w: World) -> Case:
    w.signed_in(w.doctor)

    def expect():
        with tenant_scope(w.tenant):
            grant = BreakGlassGrant.objects.get()
            alert = Alert.objects.get()
        return [
            Expect(
                A.BREAK_THE_GLASS,
                actor=w.doctor,
                role=Role.REFERRING_PHYSICIAN,
                tenant=w.tenant,
                object_type="study",
                object_ids=[w.study.study_instance_uid],
                details={"grant": grant.pk},
            ),
            # Raised in the same transaction, by the platform: no actor, no request of its own.
            Expect(
                A.ALERT_RAISED,
                tenant=w.tenant,
                object_type="alert",
                object_ids=[str(alert.pk)],
                details={"kind": alert.kind},
                source_address=None,
            ),
        ]

    return Case(
        lambda: w.client.post(
            reverse("break-glass", args=[w.tenant.slug]),
            {
                "identifier": w.study.study_instance_uid,
                "reason": "Unconscious patient in the emergency department, prior imaging needed",
                "confirm": "on",
            },
        ),
        expect,
        status=302,
    )


def page_admin_patient_restricted(w: World) -> Case:
    operator = UserFactory(is_superuser=True, is_staff=True)
    w.signed_in(operator)
    return Case(
        lambda: w.client.post(
            reverse("admin:imaging_patient_change", args=[w.patient.pk]), {"is_restricted": "on"}
        ),
        lambda: [
            Expect(
                A.ADMIN_CHANGE,
                actor=operator,
                role="platform_operator",
                tenant=w.tenant,
                object_type="imaging.patient",
                object_ids=[str(w.patient.pk)],
                details={"operation": "change", "fields": ["is_restricted"]},
            )
        ],
        status=302,
    )


def page_admin_tenant_change(w: World) -> Case:
    operator = UserFactory(is_superuser=True, is_staff=True)
    clinic = TenantFactory(slug="harbour", name="Harbour", replica_regions=["eu-2"])
    w.signed_in(operator)
    form = {
        "slug": "harbour",
        "name": "Harbour Clinic",
        "ae_title": "HARBOUR",
        "home_region": "eu-1",
        "replica_regions": '["eu-2"]',
        # As the page sends it: a field with a callable default carries its initial value along.
        "initial-replica_regions": '["eu-2"]',
        "is_active": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    return Case(
        lambda: w.client.post(reverse("admin:portal_tenant_change", args=[clinic.pk]), form),
        lambda: [
            Expect(
                A.ADMIN_CHANGE,
                actor=operator,
                role="platform_operator",
                tenant=clinic,
                object_type="portal.tenant",
                object_ids=[str(clinic.pk)],
                details={"operation": "change", "fields": ["name"]},
            )
        ],
        status=302,
    )


def page_audit_review(w: World) -> Case:
    w.signed_in(w.auditor)
    return Case(
        lambda: w.client.get(
            reverse("audit-review", args=[w.tenant.slug]), {"study": w.study.study_instance_uid}
        ),
        lambda: [
            Expect(
                A.AUDIT_VIEWED,
                actor=w.auditor,
                role=Role.AUDITOR,
                tenant=w.tenant,
                object_type="audit_event",
                object_ids=[w.study.study_instance_uid],
                details={"page": 1},
            )
        ],
        status=200,
    )


def page_audit_export_csv(w: World) -> Case:
    w.signed_in(w.auditor)

    def act():
        response = w.client.get(reverse("audit-export-csv", args=[w.tenant.slug]))
        b"".join(response.streaming_content)
        return response

    return Case(
        act,
        lambda: [
            Expect(
                A.AUDIT_EXPORTED,
                actor=w.auditor,
                role=Role.AUDITOR,
                tenant=w.tenant,
                object_type="audit_event",
                details={"format": "csv"},
            )
        ],
        status=200,
    )


def page_access_history(w: World) -> Case:
    """The patient's "who viewed my images" page reads the trail too."""
    owner = UserFactory()
    w.tenant.memberships.create(user=owner, role=Role.PATIENT)
    with tenant_scope(w.tenant):
        Patient.objects.filter(pk=w.patient.pk).update(account=owner)
    w.signed_in(owner)
    return Case(
        lambda: w.client.get(reverse("access-history", args=[w.tenant.slug])),
        lambda: [
            Expect(
                A.AUDIT_VIEWED,
                actor=owner,
                role=Role.PATIENT,
                tenant=w.tenant,
                object_type="patient",
                object_ids=[w.patient.patient_id],
                details={"page": "access_history"},
            )
        ],
        status=200,
    )


def page_denied_other_clinic(w: World) -> Case:
    """Another clinic's study page: 404, recorded in that clinic's trail with the caller named."""
    w.signed_in(w.radiologist)
    uid = w.other_study.study_instance_uid
    return Case(
        lambda: w.client.get(reverse("study-detail", args=[w.other_tenant.slug, uid])),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                actor=w.radiologist,
                tenant=w.other_tenant,
                outcome=Outcome.FAILURE,
                object_type="route",
                object_ids=[uid],
                details={"route": "study-detail", "status": 404, "method": "GET"},
            )
        ],
        status=404,
    )


def page_denied_unshared_study(w: World) -> Case:
    """A referring doctor on a study of their own clinic that nobody shared with them."""
    w.signed_in(w.doctor)
    return Case(
        lambda: w.client.get(reverse("study-detail", args=[w.tenant.slug, w.study.study_instance_uid])),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                actor=w.doctor,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="route",
                object_ids=[w.study.study_instance_uid],
                details={"route": "study-detail", "status": 404},
            )
        ],
        status=404,
    )


def page_api_token_issued(w: World) -> Case:
    w.signed_in(w.radiologist)

    def expect():
        token = ApiToken.objects.get(user=w.radiologist)
        return [
            Expect(
                A.API_TOKEN_ISSUED,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="api_token",
                object_ids=[str(token.pk)],
                details={"scopes": ["dicomweb:read"], "by": "self"},
            )
        ]

    return Case(
        lambda: w.client.post(
            reverse("api-token-create"),
            {
                "name": "PACS export",
                "tenant": str(w.tenant.pk),
                "scopes": ["dicomweb:read"],
                "expires_in_days": "30",
            },
        ),
        expect,
        status=200,
    )


def page_api_token_revoked(w: World) -> Case:
    token, _ = issue_token(w.radiologist, w.tenant)
    w.signed_in(w.radiologist)
    return Case(
        lambda: w.client.post(reverse("api-token-revoke", args=[token.pk])),
        lambda: [
            Expect(
                A.API_TOKEN_REVOKED,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="api_token",
                object_ids=[str(token.pk)],
                details={"by": "self", "user": str(w.radiologist.pk)},
            )
        ],
        status=302,
    )


def page_api_token_revoked_by_clinic_admin(w: World) -> Case:
    token, _ = issue_token(w.radiologist, w.tenant)
    w.signed_in(w.admin)
    return Case(
        lambda: w.client.post(reverse("clinic-api-token-revoke", args=[w.tenant.slug, token.pk])),
        lambda: [
            Expect(
                A.API_TOKEN_REVOKED,
                actor=w.admin,
                role=Role.TENANT_ADMIN,
                tenant=w.tenant,
                object_type="api_token",
                object_ids=[str(token.pk)],
                details={"by": "clinic_admin", "user": str(w.radiologist.pk)},
            )
        ],
        status=302,
    )


PAGE_CASES = {
    "sign-in": page_sign_in,
    "failed-sign-in": page_sign_in_failed,
    "sign-out": page_sign_out,
    "study-list": page_study_list,
    "study": page_study,
    "share": page_share,
    "share-revoke": page_share_revoke,
    "share-link-create": page_share_link_create,
    "share-link-revoke": page_share_link_revoke,
    "break-glass": page_break_glass,
    "admin-patient-restricted": page_admin_patient_restricted,
    "admin-tenant-change": page_admin_tenant_change,
    "audit-review": page_audit_review,
    "audit-export-csv": page_audit_export_csv,
    "access-history": page_access_history,
    "denied-other-clinic": page_denied_other_clinic,
    "denied-unshared-study": page_denied_unshared_study,
    "api-token-issued": page_api_token_issued,
    "api-token-revoked": page_api_token_revoked,
    "api-token-revoked-by-clinic-admin": page_api_token_revoked_by_clinic_admin,
}


@pytest.mark.parametrize("name", PAGE_CASES)
def test_page(name, world):
    run(PAGE_CASES[name](world))


# --- REST API ----------------------------------------------------------------------------------------------


def bearer(user, tenant) -> tuple[ApiToken, dict]:
    token, plaintext = issue_token(user, tenant)
    return token, {"Authorization": f"Bearer {plaintext}"}


def rest_study_list(w: World) -> Case:
    token, headers = bearer(w.radiologist, w.tenant)
    return Case(
        lambda: w.client.get(reverse("api-studies", args=[w.tenant.slug]), headers=headers),
        lambda: [
            Expect(
                A.QUERY,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="study",
                object_ids=[w.study.study_instance_uid],
                details={"service": "rest", "token": token.prefix},
            )
        ],
        status=200,
    )


def rest_study_list_session(w: World) -> Case:
    """The same list from a signed-in browser (the API accepts the session too): no token named."""
    w.signed_in(w.technologist)
    return Case(
        lambda: w.client.get(reverse("api-studies", args=[w.tenant.slug])),
        lambda: [
            Expect(
                A.QUERY,
                actor=w.technologist,
                role=Role.TECHNOLOGIST,
                tenant=w.tenant,
                object_type="study",
                object_ids=[w.study.study_instance_uid],
                details={"service": "rest", "token": None},
            )
        ],
        status=200,
    )


def rest_audit_fhir(w: World) -> Case:
    token, headers = bearer(w.auditor, w.tenant)
    return Case(
        lambda: w.client.get(reverse("api-audit-fhir"), {"tenant": w.tenant.slug}, headers=headers),
        lambda: [
            Expect(
                A.AUDIT_EXPORTED,
                actor=w.auditor,
                role=Role.AUDITOR,
                tenant=w.tenant,
                object_type="audit_chain",
                object_ids=[chain_of(w.tenant.pk)],
                details={"format": "fhir", "interface": "rest", "service": "fhir", "token": token.prefix},
            )
        ],
        status=200,
    )


def rest_denied_token_of_another_clinic(w: World) -> Case:
    token, headers = bearer(w.outsider, w.other_tenant)
    return Case(
        lambda: w.client.get(reverse("api-studies", args=[w.tenant.slug]), headers=headers),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                actor=w.outsider,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="route",
                details={"route": "api-studies", "method": "GET", "status": 404, "token": token.prefix},
            )
        ],
        status=404,
    )


def rest_denied_audit_to_a_radiologist(w: World) -> Case:
    _, headers = bearer(w.radiologist, w.tenant)
    return Case(
        lambda: w.client.get(reverse("api-audit-fhir"), {"tenant": w.tenant.slug}, headers=headers),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="audit_chain",
                object_ids=[chain_of(w.tenant.pk)],
                details={"route": "api-audit-fhir", "reason": "may_not_read_audit"},
            )
        ],
        status=404,
    )


def rest_denied_revoked_token(w: World) -> Case:
    token, headers = bearer(w.radiologist, w.tenant)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    return Case(
        lambda: w.client.get(reverse("api-studies", args=[w.tenant.slug]), headers=headers),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="route",
                details={"route": "api-studies", "method": "GET", "status": 401},
            )
        ],
        status=401,
    )


REST_CASES = {
    "study-list": rest_study_list,
    "study-list-session": rest_study_list_session,
    "audit-fhir": rest_audit_fhir,
    "denied-token-of-another-clinic": rest_denied_token_of_another_clinic,
    "denied-audit-to-a-radiologist": rest_denied_audit_to_a_radiologist,
    "denied-revoked-token": rest_denied_revoked_token,
}


@pytest.mark.parametrize("name", REST_CASES)
def test_rest(name, world):
    run(REST_CASES[name](world))


# --- DICOMweb ----------------------------------------------------------------------------------------------


@dataclass
class Stored:
    """An instance ingested into the clinic (CT_small.dcm), its patient given the PHI above."""

    study_uid: str
    series_uid: str
    instance_uid: str


def ingest_with_phi(tenant, name: str = "CT_small.dcm") -> Stored:
    header = ingest_sample(tenant, name)
    with tenant_scope(tenant):
        Patient.objects.filter(studies__study_instance_uid=header.StudyInstanceUID).update(
            name=PATIENT_NAME, birth_date=BIRTH_DATE
        )
    return Stored(header.StudyInstanceUID, header.SeriesInstanceUID, header.SOPInstanceUID)


@pytest.fixture
def stored(world) -> Stored:
    return ingest_with_phi(world.tenant)


def index_queued_jobs(tenant) -> None:
    """What the worker does with the jobs a store queued (imaging.tasks), in this process: the tests'
    database transaction is never committed, so no message was sent."""
    with tenant_scope(tenant):
        jobs = [
            str(pk)
            for pk in IngestJob.objects.filter(state=IngestJob.State.QUEUED).values_list("pk", flat=True)
        ]
    index_received_objects(jobs, tenant.pk)


def dicomweb_qido(w: World, s: Stored) -> Case:
    token, headers = bearer(w.radiologist, w.tenant)
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies", {"PatientID": "1CT1"}, headers=headers),
        lambda: [
            Expect(
                A.QUERY,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="study",
                object_ids=[s.study_uid],
                details={
                    "service": "qido-rs",
                    "level": "study",
                    "results": 1,
                    "keys": ["00100020"],
                    "token": token.prefix,
                },
            )
        ],
        status=200,
    )


def dicomweb_qido_session(w: World, s: Stored) -> Case:
    """The viewer's way: the session cookie, a series search inside the study."""
    w.signed_in(w.radiologist)
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies/{s.study_uid}/series"),
        lambda: [
            Expect(
                A.QUERY,
                actor=w.radiologist,
                role=Role.RADIOLOGIST,
                tenant=w.tenant,
                object_type="study",
                object_ids=[s.study_uid],
                details={"service": "qido-rs", "level": "series", "results": 1, "token": None},
            )
        ],
        status=200,
    )


def instance_url(w: World, s: Stored, suffix: str = "") -> str:
    series = f"/dicomweb/{w.tenant.slug}/studies/{s.study_uid}/series/{s.series_uid}"
    return f"{series}/instances/{s.instance_uid}{suffix}"


def retrieved(w: World, s: Stored, transaction: str, level: str, token=None) -> list[Expect]:
    return [
        Expect(
            A.RETRIEVE,
            actor=w.radiologist,
            role=Role.RADIOLOGIST,
            tenant=w.tenant,
            object_type=level,
            object_ids=[s.instance_uid],
            details={
                "service": "wado-rs",
                "transaction": transaction,
                "study": s.study_uid,
                "token": token.prefix if token else None,
            },
        )
    ]


def dicomweb_wado_instance(w: World, s: Stored) -> Case:
    token, headers = bearer(w.radiologist, w.tenant)

    def act():
        response = w.client.get(instance_url(w, s), headers={**headers, "Accept": ALL_SYNTAXES})
        body(response)
        return response

    return Case(act, lambda: retrieved(w, s, "retrieve", "instance", token), status=200)


def dicomweb_wado_study_metadata(w: World, s: Stored) -> Case:
    w.signed_in(w.radiologist)
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies/{s.study_uid}/metadata"),
        lambda: retrieved(w, s, "metadata", "study"),
        status=200,
    )


def dicomweb_wado_rendered(w: World, s: Stored) -> Case:
    w.signed_in(w.radiologist)

    def act():
        response = w.client.get(instance_url(w, s, "/rendered"), headers={"Accept": "image/png"})
        body(response)
        return response

    return Case(act, lambda: retrieved(w, s, "rendered", "instance"), status=200)


def dicomweb_stow(w: World, s: Stored) -> Case:
    """Two instances stored in one request: one STOW_REQUEST, and a STORE for each once indexed."""
    token, headers = bearer(w.technologist, w.tenant)
    mr = pydicom.dcmread(SAMPLES / "MR_small.dcm", stop_before_pixels=True)
    dog = pydicom.dcmread(SAMPLES / "DX_dog.dcm", stop_before_pixels=True)

    def act():
        response = w.client.post(
            stow_url(w.tenant.slug),
            data=related_body([sample("MR_small.dcm"), sample("DX_dog.dcm")]),
            content_type=related_type(),
            headers=headers,
        )
        index_queued_jobs(w.tenant)
        return response

    def stored_event(header) -> Expect:
        return Expect(
            A.STORE,
            actor=w.technologist,
            tenant=w.tenant,
            object_type="instance",
            object_ids=[header.StudyInstanceUID, header.SeriesInstanceUID, header.SOPInstanceUID],
            details={"source": "stow", "result": "stored"},
            source_address=None,
        )

    return Case(
        act,
        lambda: [
            Expect(
                A.STOW_REQUEST,
                actor=w.technologist,
                role=Role.TECHNOLOGIST,
                tenant=w.tenant,
                object_type="study",
                object_ids=sorted({mr.StudyInstanceUID, dog.StudyInstanceUID}),
                details={"status": 200, "stored": 2, "failed": 0, "token": token.prefix},
            ),
            stored_event(mr),
            stored_event(dog),
        ],
        status=200,
    )


def dicomweb_denied_not_visible(w: World, s: Stored) -> Case:
    """A referring doctor of the clinic, on a study nobody shared with them."""
    _, headers = bearer(w.doctor, w.tenant)
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies/{s.study_uid}/metadata", headers=headers),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                actor=w.doctor,
                role=Role.REFERRING_PHYSICIAN,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="study",
                object_ids=[s.study_uid],
                details={"service": "wado-rs", "reason": "not_visible"},
            )
        ],
        status=404,
    )


def dicomweb_denied_token_of_another_clinic(w: World, s: Stored) -> Case:
    token, headers = bearer(w.outsider, w.other_tenant)
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies", headers=headers),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                actor=w.outsider,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="tenant",
                details={"route": "dicomweb-stow", "method": "GET", "token": token.prefix},
            )
        ],
        status=404,
    )


def dicomweb_denied_store_to_a_radiologist_of_another_clinic(w: World, s: Stored) -> Case:
    w.signed_in(w.outsider)
    return Case(
        lambda: w.client.post(
            stow_url(w.tenant.slug), data=related_body([sample("MR_small.dcm")]), content_type=related_type()
        ),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                actor=w.outsider,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="tenant",
                details={"route": "dicomweb-stow", "method": "POST"},
            )
        ],
        status=404,
    )


def dicomweb_denied_without_credentials(w: World, s: Stored) -> Case:
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies"),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="route",
                details={"route": "dicomweb-stow", "method": "GET", "status": 401},
            )
        ],
        status=401,
    )


DICOMWEB_CASES = {
    "qido": dicomweb_qido,
    "qido-session": dicomweb_qido_session,
    "wado-instance": dicomweb_wado_instance,
    "wado-study-metadata": dicomweb_wado_study_metadata,
    "wado-rendered": dicomweb_wado_rendered,
    "stow": dicomweb_stow,
    "denied-not-visible": dicomweb_denied_not_visible,
    "denied-token-of-another-clinic": dicomweb_denied_token_of_another_clinic,
    "denied-store-to-another-clinic": dicomweb_denied_store_to_a_radiologist_of_another_clinic,
    "denied-without-credentials": dicomweb_denied_without_credentials,
}


@pytest.mark.parametrize("name", DICOMWEB_CASES)
def test_dicomweb(name, world, stored):
    run(DICOMWEB_CASES[name](world, stored))


# --- Share links -------------------------------------------------------------------------------------------


def link_to(w: World, s: Stored, **kwargs) -> ShareLink:
    with tenant_scope(w.tenant):
        study = Study.objects.get(study_instance_uid=s.study_uid)
    return ShareLinkFactory(
        tenant=w.tenant, studies=[study], pin_hash=make_password(PIN), created_by=w.radiologist, **kwargs
    )


def open_link(w: World, link: ShareLink, pin: str = PIN):
    return w.client.post(reverse("share-link-open", args=[link.token]), {"answer": pin})


def visiting(w: World, s: Stored) -> ShareLink:
    """The client opened a link to the stored study: it is that link's visitor from now on."""
    link = link_to(w, s)
    assert open_link(w, link).status_code == 302
    return link


def as_visitor(link: ShareLink, action: AuditAction, **kwargs) -> Expect:
    """An event of the link's visitor: no account, the link named on the event."""
    details = {"share_link": str(link.pk), **kwargs.pop("details", {})}
    return Expect(action, actor=None, role=VISITOR, tenant=link.tenant, details=details, **kwargs)


def link_open(w: World, s: Stored) -> Case:
    link = link_to(w, s)
    return Case(
        lambda: open_link(w, link),
        lambda: [
            as_visitor(
                link,
                A.SHARE_LINK_OPENED,
                object_type="share_link",
                object_ids=[str(link.pk)],
                details={"use_count": 1},
            )
        ],
        status=302,
    )


def link_wrong_pin(w: World, s: Stored) -> Case:
    link = link_to(w, s)
    return Case(
        lambda: open_link(w, link, "000000"),
        lambda: [
            # Not a visitor yet: the link is the object.
            Expect(
                A.SHARE_LINK_FAILED,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="share_link",
                object_ids=[str(link.pk)],
                details={"reason": "wrong_pin", "failed_attempts": 1, "locked": False},
            )
        ],
        status=200,
    )


def link_study_list(w: World, s: Stored) -> Case:
    link = visiting(w, s)
    return Case(
        lambda: w.client.get(reverse("share-link-home")),
        lambda: [as_visitor(link, A.VIEW_STUDY_LIST, object_type="study", object_ids=[s.study_uid])],
        status=200,
    )


def link_qido(w: World, s: Stored) -> Case:
    link = visiting(w, s)
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies"),
        lambda: [
            as_visitor(
                link,
                A.QUERY,
                object_type="study",
                object_ids=[s.study_uid],
                details={"service": "qido-rs", "results": 1, "token": None},
            )
        ],
        status=200,
    )


def link_wado(w: World, s: Stored) -> Case:
    link = visiting(w, s)

    def act():
        response = w.client.get(instance_url(w, s), headers={"Accept": ALL_SYNTAXES})
        body(response)
        return response

    return Case(
        act,
        lambda: [
            as_visitor(
                link,
                A.RETRIEVE,
                object_type="instance",
                object_ids=[s.instance_uid],
                details={"service": "wado-rs", "transaction": "retrieve", "study": s.study_uid},
            )
        ],
        status=200,
    )


def link_wado_metadata(w: World, s: Stored) -> Case:
    link = visiting(w, s)
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies/{s.study_uid}/metadata"),
        lambda: [
            as_visitor(
                link,
                A.RETRIEVE,
                object_type="study",
                object_ids=[s.instance_uid],
                details={"service": "wado-rs", "transaction": "metadata", "study": s.study_uid},
            )
        ],
        status=200,
    )


def link_denied_other_study(w: World, s: Stored) -> Case:
    """The link's visitor asks for a study of the clinic the link does not share."""
    link = visiting(w, s)
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies/{w.study.study_instance_uid}/metadata"),
        lambda: [
            as_visitor(
                link,
                A.ACCESS_DENIED,
                outcome=Outcome.FAILURE,
                object_type="study",
                object_ids=[w.study.study_instance_uid],
                details={"service": "wado-rs", "reason": "not_visible"},
            )
        ],
        status=404,
    )


def link_denied_revoked(w: World, s: Stored) -> Case:
    link = link_to(w, s, revoked_at=timezone.now())
    return Case(
        lambda: open_link(w, link),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="share_link",
                object_ids=[str(link.pk)],
                details={"reason": "revoked"},
            )
        ],
        status=404,
    )


def link_denied_revoked_while_visiting(w: World, s: Stored) -> Case:
    """Revoked by the sharer while the visitor reads: the visitor's very next QIDO-RS is refused."""
    link = visiting(w, s)
    with tenant_scope(w.tenant):
        ShareLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())
    return Case(
        lambda: w.client.get(f"/dicomweb/{w.tenant.slug}/studies"),
        lambda: [
            # Still that link's session: the refusal names the link.
            as_visitor(
                link,
                A.ACCESS_DENIED,
                outcome=Outcome.FAILURE,
                object_type="tenant",
                details={"route": "dicomweb-stow", "method": "GET"},
            )
        ],
        status=404,
    )


def link_denied_expired(w: World, s: Stored) -> Case:
    link = link_to(w, s, expires_at=timezone.now() - timedelta(minutes=1))
    return Case(
        lambda: open_link(w, link),
        lambda: [
            Expect(
                A.ACCESS_DENIED,
                tenant=w.tenant,
                outcome=Outcome.FAILURE,
                object_type="share_link",
                object_ids=[str(link.pk)],
                details={"reason": "expired"},
            )
        ],
        status=410,
    )


SHARE_LINK_CASES = {
    "open": link_open,
    "wrong-pin": link_wrong_pin,
    "study-list": link_study_list,
    "qido": link_qido,
    "wado": link_wado,
    "wado-metadata": link_wado_metadata,
    "denied-other-study": link_denied_other_study,
    "denied-revoked": link_denied_revoked,
    "denied-revoked-while-visiting": link_denied_revoked_while_visiting,
    "denied-expired": link_denied_expired,
}


@pytest.mark.parametrize("name", SHARE_LINK_CASES)
def test_share_link(name, world, stored):
    run(SHARE_LINK_CASES[name](world, stored))


# --- DIMSE -------------------------------------------------------------------------------------------------
# The listener as operators run it (`manage.py dicom_scp`, tests/dimse/conftest.py) in a process of its own,
# against the test database; pynetdicom as the peer for C-ECHO, C-STORE and C-FIND, dcmtk's getscu and
# movescu (tests/dimse/query_retrieve.py) for C-GET and C-MOVE.

VERIFICATION = "1.2.840.10008.1.1"
SECONDS = 30


@dataclass
class Peers:
    world: World
    stored: Stored
    port: int
    modality: Any  # MODALITY1: may store (what register_ae gives by default)
    pacs: Any  # PACS: may query and retrieve
    tmp_path: Any
    cleanup: ExitStack

    def association(self, remote_ae, outcome: str = Outcome.SUCCESS, **details) -> Expect:
        return Expect(
            A.DIMSE_ASSOCIATION,
            role="remote_ae",
            tenant=self.world.tenant,
            outcome=outcome,
            object_type="remote_ae",
            object_ids=[str(remote_ae.pk)],
            details={"called_ae": "ALPHA", "calling_ae": remote_ae.ae_title, "tls_subject": "", **details},
        )

    def by_peer(self, action: AuditAction, calling_ae: str, **kwargs) -> Expect:
        details = {"calling_ae": calling_ae, **kwargs.pop("details", {})}
        return Expect(action, role="remote_ae", tenant=self.world.tenant, details=details, **kwargs)


def associate(port: int, calling: str, *contexts: tuple[str, str]):
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = SECONDS
    for abstract_syntax, transfer_syntax in contexts or [(VERIFICATION, ExplicitVRLittleEndian)]:
        ae.add_requested_context(abstract_syntax, transfer_syntax)
    return ae.associate(LOOPBACK, port, ae_title="ALPHA")


def dimse_echo(p: Peers) -> Case:
    def act():
        assoc = associate(p.port, "MODALITY1")
        assert assoc.is_established
        status = assoc.send_c_echo()
        assoc.release()
        assert status.Status == 0x0000

    return Case(act, lambda: [p.association(p.modality)])


def dimse_store(p: Peers) -> Case:
    """C-STORE of the file as it is on disk; the STORE event is written when the instance is indexed."""
    path = SAMPLES / "DX_dog.dcm"
    meta = read_file_meta_info(path)
    header = pydicom.dcmread(path, stop_before_pixels=True)

    def act():
        assoc = associate(p.port, "MODALITY1", (meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID))
        assert assoc.is_established
        status = assoc.send_c_store(path)
        assoc.release()
        assert status.Status == 0x0000
        index_queued_jobs(p.world.tenant)

    return Case(
        act,
        lambda: [
            p.association(p.modality),
            p.by_peer(
                A.STORE,
                "MODALITY1",
                object_type="instance",
                object_ids=[header.StudyInstanceUID, header.SeriesInstanceUID, header.SOPInstanceUID],
                details={"source": "dimse", "result": "stored"},
                # Written by the indexer: no request, hence no address of its own.
                source_address=None,
            ),
        ],
    )


def dimse_store_refused(p: Peers) -> Case:
    """A data set the parse boundary refuses: answered with its reason, recorded at once."""
    path = SAMPLES / "MR_truncated.dcm"
    meta = read_file_meta_info(path)

    def act():
        assoc = associate(p.port, "MODALITY1", (meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID))
        assert assoc.is_established
        status = assoc.send_c_store(path)
        assoc.release()
        assert status.Status == 0xC000

    def expect():
        with tenant_scope(p.world.tenant):
            job = IngestJob.objects.get(state=IngestJob.State.REJECTED)
        return [
            p.association(p.modality),
            p.by_peer(
                A.STORE_REJECTED,
                "MODALITY1",
                outcome=Outcome.FAILURE,
                object_type="ingest_job",
                object_ids=[str(job.pk)],
                details={"code": "truncated"},
                source_address=None,
            ),
        ]

    return Case(act, expect)


def dimse_find(p: Peers) -> Case:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "1CT1"
    query.StudyInstanceUID = ""
    query.PatientName = ""

    def act():
        assoc = associate(
            p.port, "PACS", (StudyRootQueryRetrieveInformationModelFind, ExplicitVRLittleEndian)
        )
        assert assoc.is_established
        responses = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
        assoc.release()
        assert [status.Status for status, _ in responses] == [0xFF00, 0x0000]

    return Case(
        act,
        lambda: [
            p.association(p.pacs),
            p.by_peer(
                A.QUERY,
                "PACS",
                object_type="study",
                object_ids=[p.stored.study_uid],
                details={
                    "service": "c-find",
                    "model": "study_root",
                    "level": "study",
                    "results": 1,
                    "keys": ["00100020"],
                },
            ),
        ],
    )


def dimse_get(p: Peers) -> Case:
    def act():
        answer = get(
            p.port,
            "PACS",
            "ALPHA",
            STUDY_ROOT,
            keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=p.stored.study_uid),
            p.tmp_path / "received",
        )
        assert answer.status == 0x0000, answer.output

    return Case(
        act,
        lambda: [
            p.association(p.pacs),
            p.by_peer(
                A.RETRIEVE,
                "PACS",
                object_type="study",
                object_ids=[p.stored.instance_uid],
                details={
                    "service": "c-get",
                    "model": "study_root",
                    "level": "study",
                    "studies": [p.stored.study_uid],
                },
            ),
        ],
    )


def dimse_move(p: Peers) -> Case:
    """To dcmtk's storescp, registered as the clinic's peer WORKSTATION at its address and port."""
    port = p.cleanup.enter_context(storescp("WORKSTATION", p.tmp_path / "moved"))
    register_remote_ae(p.world.tenant, "WORKSTATION", host=LOOPBACK, port=port)

    def act():
        answer = move(
            p.port,
            "PACS",
            "ALPHA",
            "WORKSTATION",
            STUDY_ROOT,
            keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=p.stored.study_uid),
        )
        assert answer.status == 0x0000, answer.output
        assert len(list((p.tmp_path / "moved").iterdir())) == 1

    return Case(
        act,
        lambda: [
            p.association(p.pacs),
            p.by_peer(
                A.RETRIEVE,
                "PACS",
                object_type="study",
                object_ids=[p.stored.instance_uid],
                details={
                    "service": "c-move",
                    "destination_ae": "WORKSTATION",
                    "level": "study",
                    "studies": [p.stored.study_uid],
                },
            ),
        ],
    )


def dimse_refused_association(p: Peers) -> Case:
    def act():
        assoc = associate(p.port, "STRANGER")
        assert assoc.is_rejected

    refused = {
        "called_ae": "ALPHA",
        "calling_ae": "STRANGER",
        "tls_subject": "",
        "reason": "unknown_calling_ae",
    }
    return Case(
        act,
        lambda: [
            p.by_peer(A.DIMSE_ASSOCIATION, "STRANGER", outcome=Outcome.FAILURE, details=refused),
            p.by_peer(A.ACCESS_DENIED, "STRANGER", outcome=Outcome.FAILURE, details=refused),
        ],
    )


def dimse_refused_find(p: Peers) -> Case:
    """An admitted peer that may store but not query."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""

    def act():
        assoc = associate(
            p.port, "MODALITY1", (StudyRootQueryRetrieveInformationModelFind, ExplicitVRLittleEndian)
        )
        assert assoc.is_established
        responses = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
        assoc.release()
        assert [status.Status for status, _ in responses] == [0x0124]

    return Case(
        act,
        lambda: [
            p.association(p.modality),
            p.by_peer(
                A.ACCESS_DENIED,
                "MODALITY1",
                outcome=Outcome.FAILURE,
                details={"operation": "c_find", "reason": "may_not_query"},
            ),
        ],
    )


DIMSE_CASES = {
    "association": dimse_echo,
    "c-store": dimse_store,
    "c-store-refused": dimse_store_refused,
    "c-find": dimse_find,
    "c-get": dimse_get,
    "c-move": dimse_move,
    "refused-association": dimse_refused_association,
    "refused-c-find": dimse_refused_find,
}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", DIMSE_CASES)
def test_dimse(name, world, stored, scp, modality, tmp_path, monkeypatch):  # noqa: F811
    # pynetdicom sends a file's data set as it is on disk, undecoded (as tests/dimse/test_store.py does).
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    pacs = register_remote_ae(world.tenant, "PACS", may_store=False, may_query=True, may_retrieve=True)
    with ExitStack() as cleanup:
        run(DIMSE_CASES[name](Peers(world, stored, scp.port, modality, pacs, tmp_path, cleanup)))


# --- Management commands -----------------------------------------------------------------------------------
# An operator's actions: no request, no address; the clinic is the one the command names.


def command_api_token_issued(w: World, s: Stored) -> Case:
    """Tokens are made on the API tokens page (above) or by an operator's command; there is no REST
    endpoint that issues them."""

    def expect():
        token = ApiToken.objects.get(user=w.technologist)
        return [
            Expect(
                A.API_TOKEN_ISSUED,
                actor=w.technologist,
                role=Role.TECHNOLOGIST,
                tenant=w.tenant,
                object_type="api_token",
                object_ids=[str(token.pk)],
                details={"by": "command"},
                source_address=None,
            )
        ]

    return Case(
        lambda: call_command(
            "create_api_token",
            w.technologist.email,
            w.tenant.slug,
            "--scope",
            "api:read",
            stdout=io.StringIO(),
        ),
        expect,
    )


def command_rotate_keys(w: World, s: Stored) -> Case:
    """The stored instance's study key is re-wrapped under the clinic's second key version."""

    def expect():
        with tenant_scope(w.tenant):
            newest = TenantKey.objects.order_by("-version").first()
        return [
            Expect(
                A.ADMIN_CHANGE,
                role="platform_operator",
                tenant=w.tenant,
                object_type="imaging.tenantkey",
                object_ids=[str(newest.pk)],
                details={"operation": "rotate_keys", "version": 2, "rewrapped": 1, "by": "command"},
                source_address=None,
            )
        ]

    return Case(lambda: call_command("rotate_keys", "--tenant", w.tenant.slug, stdout=io.StringIO()), expect)


def command_export_audit(w: World, s: Stored) -> Case:
    out = Path(settings.VAR_DIR) / "audit-export.ndjson"

    def act():
        call_command(
            "export_audit",
            "--tenant",
            w.tenant.slug,
            "--format",
            "fhir",
            "--out",
            str(out),
            stdout=io.StringIO(),
        )
        assert out.read_text()

    return Case(
        act,
        lambda: [
            Expect(
                A.AUDIT_EXPORTED,
                tenant=w.tenant,
                object_type="audit_chain",
                object_ids=[chain_of(w.tenant.pk)],
                details={"format": "fhir", "interface": "command"},
                source_address=None,
            )
        ],
    )


COMMAND_CASES = {
    "create-api-token": command_api_token_issued,
    "rotate-keys": command_rotate_keys,
    "export-audit": command_export_audit,
}


@pytest.mark.parametrize("name", COMMAND_CASES)
def test_command(name, world, stored):
    run(COMMAND_CASES[name](world, stored))
