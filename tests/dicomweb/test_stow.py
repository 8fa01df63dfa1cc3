"""STOW-RS over the Django test client: statuses, the PS3.18 response, and bodies that are wrong."""

import time
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from imaging.ingest.errors import FailureReason
from imaging.models import IngestJob
from portal.tenancy import tenant_scope
from tests.dicomweb.stow import (
    BOUNDARY,
    no_parts_left,
    post,
    related_body,
    related_type,
    sample,
    sequence,
    stow_url,
    value,
)
from tests.ingest.builders import SERIES_UID, SOP_INSTANCE_UID, STUDY_UID, minimal_dataset, write

CT_SMALL_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


def jobs(tenant) -> list[IngestJob]:
    with tenant_scope(tenant):
        return list(IngestJob.objects.all())


def minimal_bytes(tmp_path: Path, **attributes) -> bytes:
    return write(minimal_dataset(**attributes), tmp_path / "minimal.dcm").read_bytes()


def test_storing_one_instance_answers_200_with_its_retrieve_urls(client, tenant, token):
    response = post(client, stow_url("alpha"), related_body([sample("CT_small.dcm")]), token=token)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom+json"
    payload = response.json()
    (stored,) = sequence(payload, "00081199")
    assert value(stored, "00081150") == "1.2.840.10008.5.1.4.1.1.2"
    assert value(stored, "00081155") == CT_SMALL_SOP
    study_url = value(payload, "00081190")
    assert study_url.startswith("http://testserver/dicomweb/alpha/studies/1.3.6.1.4.1.5962.1.2.1.")
    assert value(stored, "00081190").startswith(f"{study_url}/series/")
    assert value(stored, "00081190").endswith(f"/instances/{CT_SMALL_SOP}")
    assert "00081198" not in payload
    (job,) = jobs(tenant)
    assert (job.source, job.state, job.sop_instance_uid) == ("stow", IngestJob.State.QUEUED, CT_SMALL_SOP)
    assert no_parts_left(Path(settings.VAR_DIR))


@pytest.mark.parametrize("quoted", [True, False])
def test_quoted_and_unquoted_content_type_parameters_are_read(client, tenant, token, quoted):
    body = related_body([sample("MR_small.dcm")])

    response = post(client, stow_url("alpha"), body, content_type=related_type(quoted=quoted), token=token)

    assert response.status_code == 200


def test_a_part_without_content_type_takes_the_request_type(client, tenant, token):
    response = post(
        client, stow_url("alpha"), related_body([sample("MR_small.dcm")], part_type=None), token=token
    )

    assert response.status_code == 200


def test_some_failed_answers_202_naming_each_failure_reason(client, tenant, token):
    body = related_body([sample("CT_small.dcm"), b"not dicom at all", sample("MR_truncated.dcm")])

    response = post(client, stow_url("alpha"), body, token=token)

    assert response.status_code == 202
    assert response["Content-Type"] == "application/dicom+json"
    payload = response.json()
    assert [value(item, "00081155") for item in sequence(payload, "00081199")] == [CT_SMALL_SOP]
    failed = sequence(payload, "00081198")
    assert [value(item, "00081197") for item in failed] == [FailureReason.CANNOT_UNDERSTAND] * 2
    assert sorted(job.state for job in jobs(tenant)) == ["queued", "rejected", "rejected"]


def test_all_failed_answers_409(client, tenant, token):
    body = related_body([sample("DICOMDIR"), sample("badVR.dcm")])

    response = post(client, stow_url("alpha"), body, token=token)

    assert response.status_code == 409
    reasons = [value(item, "00081197") for item in sequence(response.json(), "00081198")]
    assert reasons == [FailureReason.SOP_CLASS_NOT_SUPPORTED, FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS]


def test_an_instance_of_another_study_than_the_url_names_fails_with_c409(client, tenant, token, tmp_path):
    body = related_body([minimal_bytes(tmp_path)])

    other = post(client, stow_url("alpha", "1.2.3.4"), body, token=token)
    same = post(client, stow_url("alpha", STUDY_UID), body, token=token)

    assert other.status_code == 409
    (failed,) = sequence(other.json(), "00081198")
    assert value(failed, "00081197") == 0xC409
    assert value(failed, "00081155") == SOP_INSTANCE_UID
    assert same.status_code == 200
    (stored,) = sequence(same.json(), "00081199")
    assert value(stored, "00081190").endswith(
        f"/studies/{STUDY_UID}/series/{SERIES_UID}/instances/{SOP_INSTANCE_UID}"
    )


def test_empty_parts_fail_as_not_understood(client, tenant, token):
    response = post(client, stow_url("alpha"), related_body([b"", b""]), token=token)

    assert response.status_code == 409
    reasons = [value(item, "00081197") for item in sequence(response.json(), "00081198")]
    assert reasons == [FailureReason.CANNOT_UNDERSTAND] * 2


def test_a_part_that_declares_another_type_is_refused_unread(client, tenant, token):
    body = related_body([sample("CT_small.dcm")], part_type="text/plain")

    response = post(client, stow_url("alpha"), body, token=token)

    assert response.status_code == 409
    assert jobs(tenant) == []


def test_a_part_that_claims_dicom_but_holds_an_image_fails(client, tenant, token):
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)

    response = post(client, stow_url("alpha"), related_body([png, sample("CT_small.dcm")]), token=token)

    assert response.status_code == 202
    (failed,) = sequence(response.json(), "00081198")
    assert value(failed, "00081197") == FailureReason.CANNOT_UNDERSTAND


@pytest.mark.parametrize(
    "content_type",
    [
        "application/dicom",
        "multipart/form-data; boundary=x",
        'multipart/related; type="application/dicom+json"; boundary=x',
        'multipart/related; type="application/dicom+xml"; boundary=x',
        "",
    ],
)
def test_anything_but_multipart_related_dicom_is_415(client, tenant, token, content_type):
    response = post(
        client,
        stow_url("alpha"),
        related_body([sample("CT_small.dcm")]),
        content_type=content_type,
        token=token,
    )

    assert response.status_code == 415
    assert jobs(tenant) == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ('multipart/related; type="application/dicom"', related_body([b"x"])),
        ('multipart/related; type="application/dicom"; boundary=""', related_body([b"x"])),
        (related_type("x" * 71), related_body([b"x"], boundary="x" * 71)),
        (related_type("another-boundary"), related_body([b"x"])),
        (related_type(), related_body([b"x"])[:-20]),
        (related_type(), b"\r\n"),
        (related_type(), f"--{BOUNDARY}--\r\n".encode()),
        (related_type(), f"--{BOUNDARY}\nContent-Type: application/dicom\n\nx\n--{BOUNDARY}--".encode()),
        (related_type(), f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n".encode() * 3),
    ],
    ids=[
        "no-boundary",
        "empty-boundary",
        "long-boundary",
        "wrong-boundary",
        "truncated",
        "empty-body",
        "no-parts",
        "bare-newlines",
        "headers-never-end",
    ],
)
def test_a_body_that_cannot_be_read_is_400_and_nothing_is_stored(client, tenant, token, content_type, body):
    response = post(client, stow_url("alpha"), body, content_type=content_type, token=token)

    assert response.status_code == 400
    assert jobs(tenant) == []
    assert no_parts_left(Path(settings.VAR_DIR))


def test_a_truncated_body_stores_none_of_its_complete_parts(client, tenant, token):
    body = related_body([sample("CT_small.dcm"), sample("MR_small.dcm")])

    response = post(client, stow_url("alpha"), body[: len(body) // 2 + 4000], token=token)

    assert response.status_code == 400
    assert jobs(tenant) == []


def test_twenty_thousand_parts_are_refused_quickly_and_nothing_is_stored(client, tenant, token):
    body = related_body([b""] * 20_000)
    started = time.monotonic()

    response = post(client, stow_url("alpha"), body, token=token)

    assert response.status_code == 413
    assert time.monotonic() - started < 10
    assert jobs(tenant) == []
    assert no_parts_left(Path(settings.VAR_DIR))


def test_a_body_over_the_byte_limit_is_413(client, tenant, token, settings):
    settings.PALISADE_STOW_MAX_BYTES = 5_000
    body = related_body([sample("MR_small.dcm")])

    declared = post(client, stow_url("alpha"), body, token=token)

    assert declared.status_code == 413
    assert jobs(tenant) == []


def test_every_request_is_audited_with_its_outcome(client, tenant, token, storer):
    post(client, stow_url("alpha"), related_body([sample("CT_small.dcm"), b""]), token=token)
    post(client, stow_url("alpha"), b"junk", content_type="text/plain", token=token)

    events = AuditEvent.objects.filter(action=AuditAction.STOW_REQUEST).order_by("id")
    assert [(e.actor, e.tenant, e.details["status"]) for e in events] == [
        (storer, tenant, 202),
        (storer, tenant, 415),
    ]
    assert events[0].details["stored"] == 1 and events[0].details["failed"] == 1
    assert events[0].actor_role == "technologist"


def test_the_openapi_schema_lists_stow(client):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()

    assert "post" in schema["paths"]["/dicomweb/{tenant_slug}/studies"]
