"""Research exports (imaging.research.services): consent, pseudonyms, references, refusals, and the
`zip` destination's archive. The worker's part is called directly here, as tests/test_downloads.py does;
tests/research/test_export_worker.py runs a real worker."""

from datetime import timedelta
from pathlib import Path

import pytest

from audit.models import AuditAction, AuditEvent, Outcome
from imaging.research import exports, services
from imaging.research.models import DeviceMask, ResearchExport
from imaging.research.selectors import StudyQuery
from portal.tenancy import tenant_scope
from tests.research.conftest import (
    archive_files,
    built_image,
    decide,
    ingest_built,
    make_project,
    run_export,
    sr_referencing,
)

pytestmark = pytest.mark.django_db


def test_a_patient_who_withdrew_research_consent_is_left_out_and_counted(tenant, admin, consenting):
    ct = consenting("CT_small.dcm")
    mr = consenting("MR_small.dcm")
    decide(tenant, admin, mr, grant=False)
    project = make_project(tenant, admin)

    export = run_export(project, admin)

    files = archive_files(export)
    with tenant_scope(tenant):
        keys = services.project_keys(project)
    assert [ds.StudyInstanceUID for ds in files] == [keys.uid(ct.StudyInstanceUID)]
    assert keys.uid(mr.StudyInstanceUID) not in {ds.StudyInstanceUID for ds in files}
    assert all(str(ds.PatientName) != str(mr.PatientName) for ds in files)
    assert export.report["patients_left_out"] == 1
    assert (export.report["studies"], export.report["instances"]) == (1, 1)


def test_a_patient_who_never_answered_is_left_out_too(tenant, admin, consenting):
    from tests.dicomweb.wado import ingest_sample

    consenting("CT_small.dcm")
    ingest_sample(tenant, "MR_small.dcm")

    export = run_export(make_project(tenant, admin), admin)

    assert export.report["patients_left_out"] == 1 and export.report["instances"] == 1


def test_exporting_a_study_again_to_the_same_project_gives_the_same_uids_and_another_project_others(
    tenant, admin, consenting
):
    ct = consenting("CT_small.dcm")
    first_project = make_project(tenant, admin, "First")
    second_project = make_project(tenant, admin, "Second")

    first = archive_files(run_export(first_project, admin))[0]
    again = archive_files(run_export(first_project, admin))[0]
    other = archive_files(run_export(second_project, admin))[0]

    uids = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    assert [first[uid].value for uid in uids] == [again[uid].value for uid in uids]
    assert all(first[uid].value != other[uid].value for uid in uids)
    assert all(first[uid].value != ct[uid].value for uid in uids)
    assert first.PatientID == again.PatientID != other.PatientID


def test_a_structured_report_still_points_at_its_image_after_export(tenant, admin, consenting, tmp_path):
    ct = consenting("CT_small.dcm")
    ingest_built(tenant, tmp_path / "sr.dcm", sr_referencing(ct))

    # Without Clean Structured Content, Table E.1-1 replaces the Content Sequence by a dummy.
    project = make_project(tenant, admin, options=["clean-structured-content"])
    files = archive_files(run_export(project, admin))

    image = next(ds for ds in files if ds.Modality == "CT")
    report = next(ds for ds in files if ds.Modality == "SR")
    referenced = report.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    evidence = report.CurrentRequestedProcedureEvidenceSequence[0]
    assert referenced == image.SOPInstanceUID != ct.SOPInstanceUID
    assert evidence.StudyInstanceUID == image.StudyInstanceUID == report.StudyInstanceUID
    assert evidence.ReferencedSeriesSequence[0].SeriesInstanceUID == image.SeriesInstanceUID


def test_burned_in_images_are_refused_with_the_reason_and_the_rest_exported(
    tenant, admin, consenting, tmp_path
):
    ct = consenting("CT_small.dcm")
    ingest_built(
        tenant,
        tmp_path / "burned.dcm",
        built_image(
            StudyInstanceUID=ct.StudyInstanceUID,
            PatientID=ct.PatientID,
            PatientName=ct.PatientName,
            BurnedInAnnotation="YES",
        ),
    )

    export = run_export(make_project(tenant, admin), admin)

    assert export.report["instances"] == 1
    assert export.report["refused_total"] == 1
    [(reason, count)] = export.report["refused"].items()
    assert count == 1 and "burned-in" in reason.lower()
    assert str(ct.PatientName) not in reason and ct.PatientID not in reason
    assert len(archive_files(export)) == 1


def test_a_device_on_the_clinics_burned_in_list_is_refused_unless_masked(tenant, admin, consenting):
    consenting("CT_small.dcm")  # GE MEDICAL SYSTEMS RHAPSODE, 128 x 128
    consenting("MR_small.dcm")
    with tenant_scope(tenant):
        services.save_device_mask(
            tenant=tenant,
            actor=admin,
            values={
                "manufacturer": "GE MEDICAL SYSTEMS",
                "model": "RHAPSODE",
                "rows": 128,
                "columns": 128,
                "rectangles": [[0, 0, 128, 16]],
                "flagged": True,
            },
        )

    refused = run_export(make_project(tenant, admin, "Refusing"), admin)
    cleaned = run_export(make_project(tenant, admin, "Cleaning", burned_in="clean"), admin)

    assert (refused.report["instances"], refused.report["refused_total"]) == (1, 1)
    assert "GE MEDICAL SYSTEMS" in next(iter(refused.report["refused"]))
    assert (cleaned.report["instances"], cleaned.report["refused_total"]) == (2, 0)
    masked = next(ds for ds in archive_files(cleaned) if ds.Modality == "CT")
    assert not masked.pixel_array[:16, :].any() and masked.pixel_array[16:, :].any()
    assert masked.BurnedInAnnotation == "NO"


def test_the_query_narrows_the_export(tenant, admin, consenting):
    consenting("CT_small.dcm")
    mr = consenting("MR_small.dcm")

    export = run_export(make_project(tenant, admin), admin, StudyQuery(modality="MR"))
    by_uid = run_export(
        make_project(tenant, admin, "By UID"), admin, StudyQuery(study_uids=(mr.StudyInstanceUID,))
    )

    assert [ds.Modality for ds in archive_files(export)] == ["MR"]
    assert [ds.Modality for ds in archive_files(by_uid)] == ["MR"]
    assert export.report["patients_left_out"] == 0


def test_every_file_of_the_archive_opens_and_carries_the_de_identification_marks(tenant, admin, consenting):
    for name in ("CT_small.dcm", "MR_small.dcm", "US_palette_rle_2frame.dcm"):
        consenting(name)

    export = run_export(make_project(tenant, admin, options=["retain-long-modified-dates"]), admin)

    files = archive_files(export)
    assert len(files) == 3 == export.report["instances"]
    for ds in files:
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "CompressedSamples" not in str(ds.PatientName)
    assert export.report["options"] == ["retain-long-modified-dates"]
    assert export.report["edition"]


def test_the_archive_is_stored_encrypted_and_forgotten_when_it_expires(tenant, admin, consenting):
    from django.conf import settings
    from django.utils import timezone

    consenting("CT_small.dcm")
    export = run_export(make_project(tenant, admin), admin)
    stored = Path(settings.PALISADE_STORAGE[export.region]["location"]) / export.storage_name

    assert stored.read_bytes().startswith(b"PLSD") and b"DICM" not in stored.read_bytes()
    with tenant_scope(tenant):
        assert exports.forget_expired(timezone.now() + timedelta(days=2)) == 1
        assert not ResearchExport.objects.get(pk=export.pk).storage_name
    assert not stored.exists()


def test_an_export_is_audited_from_start_to_finish_without_phi(tenant, admin, consenting):
    ct = consenting("CT_small.dcm")

    export = run_export(make_project(tenant, admin), admin)

    with tenant_scope(tenant):
        events = list(
            AuditEvent.objects.filter(
                action__in=[AuditAction.RESEARCH_EXPORT_STARTED, AuditAction.RESEARCH_EXPORT_FINISHED]
            ).order_by("pk")
        )
    assert [event.action for event in events] == [
        AuditAction.RESEARCH_EXPORT_STARTED,
        AuditAction.RESEARCH_EXPORT_FINISHED,
    ]
    assert all(event.object_ids == [str(export.pk)] for event in events)
    assert events[1].outcome == Outcome.SUCCESS and events[1].details["instances"] == 1
    for event in events:
        text = str(event.details)
        assert str(ct.PatientName) not in text and ct.PatientID not in text


def test_running_a_finished_export_again_changes_nothing(tenant, admin, consenting):
    consenting("CT_small.dcm")
    export = run_export(make_project(tenant, admin), admin)

    with tenant_scope(tenant):
        again = exports.run_export(str(export.pk))

    assert again.storage_name == export.storage_name and again.report == export.report


def test_a_pixel_policy_is_made_of_the_clinics_device_rows(tenant, admin):
    with tenant_scope(tenant):
        services.save_device_mask(
            tenant=tenant,
            actor=admin,
            values={
                "manufacturer": "ACME",
                "model": "US-1",
                "rows": None,
                "columns": None,
                "rectangles": [],
                "flagged": True,
            },
        )
        policy = DeviceMask.pixel_policy("clean")

    assert policy.flagged_devices == (("ACME", "US-1"),) and policy.masks == ()
