"""The audit trail as FHIR R4 AuditEvents: GET /api/v1/audit/fhir (a searchset Bundle) and the
export_audit command, validated with the fhir.resources models (R4B's AuditEvent and Bundle are
R4's); who may read it, and that reading it is audited."""

import json
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.bundle import Bundle
from lxml import etree

import audit
from accounts.models import TokenScope
from accounts.roles import Role
from accounts.tokens import issue_token
from audit.chain import chain_of
from audit.models import AuditAction, AuditEvent, Outcome
from tests.factories import MembershipFactory, StudyFactory
from tests.test_audit_exports_dicom import valid_message

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit/fhir"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


def valid_bundle(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/fhir+json"
    bundle = response.json()
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        FhirAuditEvent.model_validate(entry["resource"])
    assert bundle["type"] == "searchset"
    return bundle


def resources(bundle: dict) -> list[dict]:
    return [entry["resource"] for entry in bundle["entry"]]


@pytest.fixture
def viewed_study(client, tenant, member_factory):
    """A radiologist opened a study page of Alpha."""
    study = StudyFactory(tenant=tenant, patient__patient_id="PID-4711", patient__name="Doe^Jane")
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    assert (
        client.get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid])).status_code == 200
    )
    client.logout()
    return study


def test_the_route_is_named_and_documented(client, tenant, member_factory):
    assert reverse("api-audit-fhir") == URL
    client.force_login(member_factory(tenant, Role.AUDITOR))
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()
    assert "/api/v1/audit/fhir" in schema["paths"]


def test_a_privacy_officer_reads_a_study_view_as_a_valid_fhir_audit_event(
    client, tenant, member_factory, viewed_study
):
    client.force_login(member_factory(tenant, Role.AUDITOR))

    bundle = valid_bundle(client.get(URL, {"tenant": tenant.slug}))

    (view,) = [r for r in resources(bundle) if r["type"]["code"] == "110103"]
    assert view["type"]["system"] == DCM and view["action"] == "R" and view["outcome"] == "0"
    studies = [e["what"] for e in view["entity"] if e["what"].get("type") == "ImagingStudy"]
    assert studies == [
        {
            "type": "ImagingStudy",
            "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{viewed_study.study_instance_uid}"},
        }
    ]
    (patient,) = [e for e in view["entity"] if e["what"].get("type") == "Patient"]
    assert patient["what"]["identifier"]["value"] == "PID-4711"
    assert patient["role"]["code"] == "1" and patient["type"]["code"] == "1"
    (requestor,) = [a for a in view["agent"] if a["requestor"]]
    assert requestor["network"] == {"address": "127.0.0.1", "type": "2"}
    assert requestor["type"]["coding"][0]["code"] == "IRCP"
    assert view["source"]["site"] == tenant.slug
    assert "Doe" not in json.dumps(bundle)
    assert bundle["total"] == len(bundle["entry"])


def test_a_clinic_admin_may_read_it_too(client, tenant, member_factory, viewed_study):
    client.force_login(member_factory(tenant, Role.TENANT_ADMIN))

    assert valid_bundle(client.get(URL, {"tenant": tenant.slug}))["total"] >= 1


def test_reading_the_trail_is_audited(client, tenant, member_factory, viewed_study):
    audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=["1.2.3"])
    auditor = member_factory(tenant, Role.AUDITOR)
    client.force_login(auditor)

    bundle = valid_bundle(client.get(URL, {"tenant": tenant.slug, "_count": "2"}))

    exported = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED)
    assert (exported.tenant, exported.actor, exported.actor_role) == (tenant, auditor, Role.AUDITOR)
    assert exported.object_ids == [chain_of(tenant.pk)]
    assert exported.details["count"] == 2 == len(bundle["entry"])
    assert exported.details["format"] == "fhir"
    # The next read shows the export itself, as an Audit Log Used event.
    later = valid_bundle(client.get(URL, {"tenant": tenant.slug, "action": "audit_exported"}))
    assert [r["type"]["code"] for r in resources(later)] == ["110101"]


@pytest.mark.parametrize("role", [Role.RADIOLOGIST, Role.TECHNOLOGIST, Role.BILLING, Role.PATIENT])
def test_other_roles_of_the_clinic_get_404_and_the_attempt_is_audited(client, tenant, member_factory, role):
    client.force_login(member_factory(tenant, role))

    response = client.get(URL, {"tenant": tenant.slug})

    assert response.status_code == 404
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert (denied.tenant, denied.outcome, denied.details["reason"]) == (
        tenant,
        Outcome.FAILURE,
        "may_not_read_audit",
    )
    assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED).exists()


def test_another_clinic_looks_exactly_like_no_clinic(client, tenant, other_tenant, member_factory):
    client.force_login(member_factory(other_tenant, Role.AUDITOR))

    theirs = client.get(URL, {"tenant": tenant.slug})
    missing = client.get(URL, {"tenant": "no-such-clinic"})

    assert theirs.status_code == missing.status_code == 404
    assert theirs.content == missing.content
    assert not AuditEvent.objects.filter(tenant=tenant).exists()


def test_without_a_clinic_the_answer_is_an_operation_outcome(client, tenant, member_factory):
    client.force_login(member_factory(tenant, Role.AUDITOR))

    response = client.get(URL)

    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_anonymous_callers_are_asked_to_authenticate(client, tenant):
    response = client.get(URL, {"tenant": tenant.slug})

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_api_token_with_the_read_scope_reads_it(client, tenant, member_factory, viewed_study):
    _, plaintext = issue_token(member_factory(tenant, Role.AUDITOR), tenant, scopes=[TokenScope.API_READ])

    response = client.get(URL, {"tenant": tenant.slug}, HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    assert valid_bundle(response)["total"] >= 1


def test_a_token_without_the_read_scope_gets_403(client, tenant, member_factory):
    _, plaintext = issue_token(
        member_factory(tenant, Role.AUDITOR), tenant, scopes=[TokenScope.DICOMWEB_READ]
    )

    response = client.get(URL, {"tenant": tenant.slug}, HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_a_token_of_another_clinic_gets_404_even_for_a_clinic_its_user_audits(
    client, tenant, other_tenant, member_factory
):
    auditor = member_factory(tenant, Role.AUDITOR)
    MembershipFactory(user=auditor, tenant=other_tenant, role=Role.AUDITOR)
    _, plaintext = issue_token(auditor, other_tenant, scopes=[TokenScope.API_READ])

    response = client.get(URL, {"tenant": tenant.slug}, HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    assert response.status_code == 404


def test_pages_follow_the_next_link_to_the_end(client, tenant, member_factory):
    for n in range(5):
        audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=[f"1.2.3.{n}"])
    client.force_login(member_factory(tenant, Role.AUDITOR))

    seen, url, params = [], URL, {"tenant": tenant.slug, "_count": "2", "action": "query"}
    while url:
        bundle = valid_bundle(client.get(url, params))
        assert bundle["total"] == 5
        seen += [r["entity"][0]["what"]["identifier"]["value"] for r in resources(bundle)]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        next_page = urlsplit(links["next"]) if "next" in links else None
        url, params = (next_page.path, parse_qs(next_page.query)) if next_page else (None, None)

    assert seen == [f"urn:oid:1.2.3.{n}" for n in range(5)]


def test_time_and_action_filters(client, tenant, member_factory, viewed_study):
    client.force_login(member_factory(tenant, Role.AUDITOR))

    only_views = valid_bundle(client.get(URL, {"tenant": tenant.slug, "action": "view_study"}))
    future = valid_bundle(client.get(URL, {"tenant": tenant.slug, "since": "2999-01-01"}))
    past = valid_bundle(client.get(URL, {"tenant": tenant.slug, "until": "2000-01-01T00:00:00Z"}))
    wrong = client.get(URL, {"tenant": tenant.slug, "since": "yesterday"})
    unknown = client.get(URL, {"tenant": tenant.slug, "action": "teleport"})

    assert [r["type"]["code"] for r in resources(only_views)] == ["110103"]
    assert future["total"] == past["total"] == 0
    assert wrong.status_code == unknown.status_code == 400
    assert "since" in wrong.json()["issue"][0]["diagnostics"]
    assert "teleport" in unknown.json()["issue"][0]["diagnostics"]


def test_the_command_exports_ndjson_of_valid_audit_events(tenant, viewed_study, tmp_path):
    out = tmp_path / "audit.ndjson"
    stdout = StringIO()

    call_command(
        "export_audit", "--tenant", tenant.slug, "--format", "fhir", "--out", str(out), stdout=stdout
    )

    lines = out.read_text().splitlines()
    exported = [FhirAuditEvent.model_validate(json.loads(line)) for line in lines]
    assert len(exported) == AuditEvent.objects.filter(tenant=tenant).count() - 1  # not the export itself
    assert f"Wrote {len(lines)} audit events" in stdout.getvalue()
    record = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED)
    assert (record.tenant, record.details["interface"], record.details["count"]) == (
        tenant,
        "command",
        len(lines),
    )


def test_the_command_exports_dicom_audit_messages_one_per_line(tenant, viewed_study, tmp_path):
    out = tmp_path / "audit.xml"

    call_command(
        "export_audit", "--tenant", tenant.slug, "--format", "dicom-xml", "--out", str(out), stdout=StringIO()
    )

    messages = [valid_message(line) for line in out.read_bytes().splitlines()]
    uids = {p.get("ParticipantObjectID") for m in messages for p in m.iter("ParticipantObjectIdentification")}
    assert viewed_study.study_instance_uid in uids
    assert all(isinstance(m, etree._Element) for m in messages)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--tenant", "no-such-clinic"], "No tenant"),
        (["--tenant", "alpha", "--since", "soon"], "since: 'soon' is not an ISO 8601"),
        (["--tenant", "alpha", "--out", "/no/such/folder/x.ndjson"], "does not exist"),
    ],
)
def test_the_command_fails_with_a_one_line_reason(tenant, tmp_path, args, reason):
    options = {"--format": "fhir", "--out": str(tmp_path / "x.ndjson")}
    options.update(zip(args[::2], args[1::2], strict=True))
    flat = [part for pair in options.items() for part in pair]

    with pytest.raises(CommandError, match=reason) as failure:
        call_command("export_audit", *flat)

    assert "\n" not in str(failure.value)
