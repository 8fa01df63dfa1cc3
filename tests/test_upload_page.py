"""The web upload page, its file and job-state endpoints, and the clinic's ingestion list."""

import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as hypothesis_strategies

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.ingest.index import index_job
from imaging.models import IngestJob
from imaging.upload.services import display_name_for
from imaging.upload.views import STORAGE_FULL_MESSAGE
from portal.tenancy import tenant_scope
from tests.ingest.samples import SAMPLES

# The fuzz rule of THREATS.md: any bytes give 2xx or 4xx. Deterministic for CI.
settings_for_fuzz = hypothesis_settings(
    max_examples=80,
    deadline=3000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UPLOAD_ROUTES = ["upload", "upload-file", "upload-job-states", "ingest-jobs"]
NON_STORERS = [Role.REFERRING_PHYSICIAN, Role.BILLING, Role.AUDITOR, Role.PATIENT]
TRUNCATED_REASON = "The Pixel Data element is longer than the bytes left in the file."


@pytest.fixture
def technologist(tenant, member_factory, client):
    user = member_factory(tenant, Role.TECHNOLOGIST)
    client.force_login(user)
    return user


def send(client, tenant, name: str, data: bytes, path: str | None = None):
    form = {"file": _named(name, data), "path": path if path is not None else name}
    return client.post(reverse("upload-file", args=[tenant.slug]), form)


def _named(name: str, data: bytes) -> io.BytesIO:
    upload = io.BytesIO(data)
    upload.name = name
    return upload


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def states(client, tenant, ids: list[str]) -> dict[str, str]:
    response = client.get(reverse("upload-job-states", args=[tenant.slug]), {"ids": ",".join(ids)})
    assert response.status_code == 200
    return {job["id"]: job["state"] for job in response.json()["jobs"]}


def scratch_files() -> list[Path]:
    return [p for p in (Path(settings.VAR_DIR) / "scratch").rglob("*") if p.is_file()]


def test_a_valid_file_is_received_then_stored_once_indexed(client, tenant, technologist):
    response = send(client, tenant, "CT_small.dcm", sample("CT_small.dcm"), path="study 1/CT_small.dcm")

    assert response.status_code == 200
    (job,) = response.json()["jobs"]
    assert (job["display_name"], job["state"], job["error_reason"]) == ("study 1/CT_small.dcm", "queued", "")
    assert states(client, tenant, [job["id"]]) == {job["id"]: "queued"}
    with tenant_scope(tenant):
        stored = IngestJob.objects.get(pk=job["id"])
        assert (stored.source, stored.submitted_by) == (IngestJob.Source.UPLOAD, technologist)
        index_job(tenant, job["id"])
    assert states(client, tenant, [job["id"]]) == {job["id"]: "stored"}
    assert scratch_files() == []


def test_each_member_of_a_zip_gets_its_own_job_and_verdict(client, tenant, technologist):
    archive = zip_of(
        [
            ("exam/CT_small.dcm", sample("CT_small.dcm")),
            ("exam/MR_small.dcm", sample("MR_small.dcm")),
            ("exam/MR_truncated.dcm", sample("MR_truncated.dcm")),
        ]
    )

    response = send(client, tenant, "exam.zip", archive)

    assert response.status_code == 200
    jobs = {job["display_name"]: job for job in response.json()["jobs"]}
    assert set(jobs) == {
        "exam.zip / exam/CT_small.dcm",
        "exam.zip / exam/MR_small.dcm",
        "exam.zip / exam/MR_truncated.dcm",
    }
    assert jobs["exam.zip / exam/CT_small.dcm"]["state"] == "queued"
    assert jobs["exam.zip / exam/MR_small.dcm"]["state"] == "queued"
    assert jobs["exam.zip / exam/MR_truncated.dcm"]["state"] == "rejected"
    assert scratch_files() == []


def test_a_malformed_file_is_refused_with_its_precise_reason(client, tenant, technologist):
    response = send(client, tenant, "MR_truncated.dcm", sample("MR_truncated.dcm"))

    assert response.status_code == 422
    (job,) = response.json()["jobs"]
    assert job["state"] == "rejected"
    with tenant_scope(tenant):
        row = IngestJob.objects.get(pk=job["id"])
    assert row.error_code == "truncated"
    assert job["error_reason"] == row.error_reason == TRUNCATED_REASON


def test_a_zip_slip_archive_is_refused_as_a_whole(client, tenant, technologist):
    archive = zip_of([("ok.dcm", sample("CT_small.dcm")), ("../../evil.dcm", sample("MR_small.dcm"))])

    response = send(client, tenant, "slip.zip", archive)

    assert response.status_code == 422
    (job,) = response.json()["jobs"]
    assert job["state"] == "rejected"
    assert "points outside the archive" in job["error_reason"]
    assert not (Path(settings.VAR_DIR) / "evil.dcm").exists()
    assert scratch_files() == []


def test_a_full_disk_answers_507_and_keeps_nothing_of_the_file(client, tenant, technologist, tiny_disk):
    (tiny_disk / "ballast").write_bytes(bytes(230 * 1024))

    response = send(client, tenant, "CT_small.dcm", sample("CT_small.dcm"))

    assert response.status_code == 507
    assert response.json() == {"jobs": [], "error": STORAGE_FULL_MESSAGE}
    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()
    assert sorted(p.name for p in tiny_disk.rglob("*") if p.is_file()) == ["ballast"]
    assert scratch_files() == []


def test_a_file_over_the_limits_is_refused_before_it_is_read(client, tenant, technologist, settings):
    settings.PALISADE_MAX_OBJECT_BYTES = 1000
    settings.PALISADE_MAX_ZIP_BYTES = 1000
    response = send(client, tenant, "big.dcm", bytes(200_000))

    assert response.status_code == 413
    assert "larger than the 1000 bytes" in response.json()["error"]
    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({}, "exactly one file"),
        ({"path": "x.dcm"}, "exactly one file"),
        ({"file": [_named("a.dcm", b"a"), _named("b.dcm", b"b")]}, "exactly one file"),
    ],
)
def test_a_request_without_exactly_one_file_is_a_400_with_a_reason(
    client, tenant, technologist, form, reason
):
    response = client.post(reverse("upload-file", args=[tenant.slug]), form)

    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_an_empty_file_is_refused_with_a_reason(client, tenant, technologist):
    response = send(client, tenant, "empty.dcm", b"")

    assert response.status_code == 422
    assert response.json()["jobs"][0]["error_reason"]


def test_a_zip_holding_only_folders_is_refused_with_a_reason(client, tenant, technologist):
    response = send(client, tenant, "empty.zip", zip_of([("folder/", b"")]))

    assert response.status_code == 422
    assert response.json()["error"] == "The ZIP archive holds no files."


def test_the_csrf_token_is_required(tenant, technologist):
    client = Client(enforce_csrf_checks=True)
    client.force_login(technologist)

    refused = send(client, tenant, "CT_small.dcm", sample("CT_small.dcm"))
    page = client.get(reverse("upload", args=[tenant.slug]))
    token = page.context["csrf_token"]
    accepted = client.post(
        reverse("upload-file", args=[tenant.slug]),
        {"file": _named("CT_small.dcm", sample("CT_small.dcm")), "path": "CT_small.dcm"},
        headers={"X-CSRFToken": str(token)},
    )

    assert refused.status_code == 403
    assert accepted.status_code == 200
    with tenant_scope(tenant):
        assert IngestJob.objects.count() == 1
    assert scratch_files() == []


@pytest.mark.parametrize("role", NON_STORERS)
@pytest.mark.parametrize("route", UPLOAD_ROUTES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_members_who_may_not_store_get_404_everywhere(client, tenant, member_factory, role, route, method):
    client.force_login(member_factory(tenant, role))
    url = reverse(route, args=[tenant.slug])

    response = getattr(client, method)(url, {"file": _named("CT_small.dcm", sample("CT_small.dcm"))})

    assert response.status_code == 404
    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()


@pytest.mark.parametrize("route", UPLOAD_ROUTES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_technologist_of_another_clinic_gets_404_everywhere(
    client, tenant, other_tenant, member_factory, route, method
):
    client.force_login(member_factory(other_tenant, Role.TECHNOLOGIST))

    response = getattr(client, method)(
        reverse(route, args=[tenant.slug]), {"file": _named("CT_small.dcm", sample("CT_small.dcm"))}
    )

    assert response.status_code == 404
    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()


@pytest.mark.parametrize("route", UPLOAD_ROUTES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitors_are_sent_to_sign_in(client, tenant, route, method):
    response = getattr(client, method)(reverse(route, args=[tenant.slug]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_job_states_never_include_another_clinics_jobs(
    client, tenant, other_tenant, technologist, member_factory
):
    mine = send(client, tenant, "CT_small.dcm", sample("CT_small.dcm")).json()["jobs"][0]["id"]
    other = Client()
    other.force_login(member_factory(other_tenant, Role.TECHNOLOGIST))
    theirs = send(other, other_tenant, "MR_small.dcm", sample("MR_small.dcm")).json()["jobs"][0]["id"]

    assert states(client, tenant, [mine, theirs]) == {mine: "queued"}
    assert states(client, tenant, [theirs]) == {}


@pytest.mark.parametrize("ids", ["not-a-uuid", ",".join(["00000000-0000-0000-0000-000000000000"] * 101)])
def test_bad_job_ids_are_a_400_with_a_reason(client, tenant, technologist, ids):
    response = client.get(reverse("upload-job-states", args=[tenant.slug]), {"ids": ids})

    assert response.status_code == 400
    assert "job" in response.json()["error"]


def test_file_names_are_cleaned_of_control_characters_and_dot_segments():
    assert display_name_for("../../etc/\u202eevil\r\n.dcm", "x") == "etc/evil.dcm"
    assert display_name_for(" / ./ ", "CT.dcm") == "CT.dcm"
    long_name = display_name_for("a" * 300 + "/IM0001.dcm", "x")
    assert len(long_name) == 255 and long_name.endswith("/IM0001.dcm")


def test_the_ingestion_list_shows_the_clinics_jobs_escaped_and_is_audited(client, tenant, technologist):
    send(client, tenant, "x.dcm", sample("CT_small.dcm"), path="<script>alert(1)</script>/CT.dcm")
    send(client, tenant, "MR_truncated.dcm", sample("MR_truncated.dcm"))

    response = client.get(reverse("ingest-jobs", args=[tenant.slug]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;/CT.dcm" in page
    assert TRUNCATED_REASON in page
    assert technologist.email in page
    event = AuditEvent.objects.get(action=AuditAction.VIEW_INGEST_JOBS)
    with tenant_scope(tenant):
        assert set(event.object_ids) == {str(pk) for pk in IngestJob.objects.values_list("pk", flat=True)}
    assert (event.actor, event.tenant) == (technologist, tenant)


def test_the_ingestion_list_filters_by_state(client, tenant, technologist):
    send(client, tenant, "CT_small.dcm", sample("CT_small.dcm"))
    send(client, tenant, "MR_truncated.dcm", sample("MR_truncated.dcm"))

    page = client.get(reverse("ingest-jobs", args=[tenant.slug]), {"state": "rejected"}).content.decode()

    assert "MR_truncated.dcm" in page and "CT_small.dcm" not in page


@pytest.mark.parametrize(("role", "shown"), [(Role.TECHNOLOGIST, True), (Role.BILLING, False)])
def test_the_dashboard_links_upload_and_ingestion_for_those_who_may(
    client, tenant, member_factory, role, shown
):
    client.force_login(member_factory(tenant, role))

    page = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    assert (reverse("upload", args=[tenant.slug]) in page) is shown
    assert (reverse("ingest-jobs", args=[tenant.slug]) in page) is shown


@settings_for_fuzz
@given(data=hypothesis_strategies.binary(max_size=4096), name=hypothesis_strategies.text(max_size=40))
def test_any_bytes_uploaded_under_any_name_get_a_2xx_or_4xx(client, tenant, technologist, data, name):
    response = send(client, tenant, name or "file", data)

    assert response.status_code < 500
