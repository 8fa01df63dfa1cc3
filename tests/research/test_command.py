"""The `deidentify` management command (DESIGN.md): files written, options refused with the list of
valid names, patients without research consent left out, audited, and no PHI in what it prints."""

from io import StringIO

import pydicom
import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditAction, AuditEvent
from imaging.deid import Option
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import ingest_sample
from tests.research.conftest import make_project

pytestmark = pytest.mark.django_db


def deidentify(*args: str) -> str:
    out = StringIO()
    call_command("deidentify", *args, stdout=out)
    return out.getvalue()


def test_the_command_writes_de_identified_files_and_leaves_out_a_patient_without_consent(
    tenant, admin, consenting, tmp_path
):
    ct = consenting("CT_small.dcm")
    mr = ingest_sample(tenant, "MR_small.dcm")  # its patient never answered
    out = tmp_path / "out"

    printed = deidentify(
        tenant.slug,
        ct.StudyInstanceUID,
        mr.StudyInstanceUID,
        "--out",
        str(out),
        "--option",
        "clean-descriptors",
    )

    files = sorted(out.rglob("*.dcm"))
    assert [path.relative_to(out).as_posix() for path in files] == ["ST00001/IM0000001.dcm"]
    written = pydicom.dcmread(files[0])
    assert written.PatientIdentityRemoved == "YES" and written.StudyInstanceUID != ct.StudyInstanceUID
    assert "Exported 1 instances of 1 studies" in printed and "1 patients left out" in printed
    assert "CompressedSamples" not in printed and ct.PatientID not in printed
    assert [p.name for p in out.iterdir()] == ["ST00001"]  # no scratch left behind
    with tenant_scope(tenant):
        [event] = AuditEvent.objects.filter(action=AuditAction.RESEARCH_EXPORT_FINISHED)
    assert event.object_ids == [ct.StudyInstanceUID] and event.details["patients_left_out"] == 1


def test_an_unknown_option_is_refused_with_the_valid_names(tenant, consenting, tmp_path):
    ct = consenting("CT_small.dcm")

    with pytest.raises(CommandError) as refusal:
        deidentify(tenant.slug, ct.StudyInstanceUID, "--out", str(tmp_path / "out"), "--option", "keep-names")

    message = str(refusal.value)
    assert "'keep-names'" in message and all(option.value in message for option in Option)
    assert not any((tmp_path / "out").iterdir())


def test_contradictory_options_and_unknown_studies_are_refused(tenant, consenting, tmp_path):
    ct = consenting("CT_small.dcm")
    out = str(tmp_path / "out")

    with pytest.raises(CommandError, match="cannot be combined"):
        deidentify(
            tenant.slug, ct.StudyInstanceUID, "--out", out, "--option", "retain-long-full-dates",
            "--option", "retain-long-modified-dates",
        )  # fmt: skip
    with pytest.raises(CommandError, match="Not studies of clinic"):
        deidentify(tenant.slug, "1.2.3.4", "--out", out)


def test_a_project_gives_the_command_its_pseudonyms(tenant, admin, consenting, tmp_path):
    from imaging.research import services

    ct = consenting("CT_small.dcm")
    project = make_project(tenant, admin)

    deidentify(tenant.slug, ct.StudyInstanceUID, "--out", str(tmp_path / "out"), "--project", project.name)

    [path] = (tmp_path / "out").rglob("*.dcm")
    with tenant_scope(tenant):
        keys = services.project_keys(project)
    assert pydicom.dcmread(path).StudyInstanceUID == keys.uid(ct.StudyInstanceUID)


def test_a_folder_that_is_not_empty_is_refused(tenant, consenting, tmp_path):
    ct = consenting("CT_small.dcm")
    (tmp_path / "kept.txt").write_text("mine")

    with pytest.raises(CommandError, match="is not empty"):
        deidentify(tenant.slug, ct.StudyInstanceUID, "--out", str(tmp_path))
