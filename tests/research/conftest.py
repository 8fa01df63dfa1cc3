"""What the research tests share: clinics with consenting (or not) patients, projects, and running an
export as the worker does (tests/research/test_export_worker.py runs a real worker)."""

import io
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.test import Client
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ComprehensiveSRStorage, ExplicitVRLittleEndian, generate_uid

from accounts.roles import Role
from imaging.downloads import services as downloads
from imaging.models import Patient, Study
from imaging.research import exports, services
from imaging.research.models import ResearchExport, ResearchProject
from imaging.research.selectors import StudyQuery
from portal.consents import selectors as consent_selectors
from portal.consents import services as consents
from portal.consents.models import ConsentPurpose
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import ingest_sample
from tests.ingest.builders import minimal_dataset, write
from tests.ingest.test_pipeline import ingest

RESEARCH = ConsentPurpose.RESEARCH_DEIDENTIFIED


@pytest.fixture
def admin(tenant, member_factory):
    return member_factory(tenant, Role.TENANT_ADMIN)


@pytest.fixture
def admin_client(admin) -> Client:
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def research_text(tenant, admin):
    return consents.publish_text(
        tenant=tenant, purpose=RESEARCH, text="Researchers may use my images without my name.", actor=admin
    )


def patient_of(tenant, dataset) -> Patient:
    with tenant_scope(tenant):
        return (
            Study.objects.select_related("patient").get(study_instance_uid=dataset.StudyInstanceUID).patient
        )


def decide(tenant, admin, dataset, *, grant: bool) -> None:
    """The patient's research consent, recorded by a clinic admin from a signed paper form."""
    with tenant_scope(tenant):
        version = consent_selectors.current_text(RESEARCH).version
    consents.decide(
        patient=patient_of(tenant, dataset), purpose=RESEARCH, grant=grant, version=version, actor=admin
    )


@pytest.fixture
def consenting(tenant, admin, research_text):
    """Ingest a sample whose patient consents to research use."""

    def ingest_consenting(name: str) -> pydicom.Dataset:
        dataset = ingest_sample(tenant, name)
        decide(tenant, admin, dataset, grant=True)
        return dataset

    return ingest_consenting


def make_project(tenant, admin, name: str = "Lung nodules", **values) -> ResearchProject:
    fields = {
        "name": name,
        "purpose": "Training a nodule detector",
        "recipients": "University hospital imaging lab",
        "options": [],
        "safe_private": [],
        "burned_in": ResearchProject.BurnedIn.REFUSE,
        "destination": ResearchProject.Destination.ZIP,
        "destination_tenant": None,
        "stow_url": "",
    } | values
    stow_token = fields.pop("stow_token", None)
    with tenant_scope(tenant):
        return services.save_project(tenant=tenant, actor=admin, values=fields, stow_token=stow_token)


def run_export(project: ResearchProject, admin, query: StudyQuery | None = None) -> ResearchExport:
    """Start the export, then run it as the worker would."""
    with tenant_scope(project.tenant):
        export = exports.start_export(project=project, query=query or StudyQuery(), actor=admin)
        exports.run_export(str(export.pk))
        export.refresh_from_db()
    assert export.state == ResearchExport.State.DONE, export.error
    return export


def archive_files(export: ResearchExport) -> list[pydicom.Dataset]:
    """Every file of a zip export's archive, read by pydicom."""
    with tenant_scope(export.tenant):
        export = ResearchExport.objects.get(pk=export.pk)
        data = b"".join(downloads.archive_chunks(export, exports.archive_key(export)))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [pydicom.dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist()]


def ingest_built(tenant, path: Path, dataset: Dataset) -> Dataset:
    job = ingest(tenant, write(dataset, path))
    assert job.state == "stored", job.error_reason
    return dataset


def built_image(**attributes) -> Dataset:
    """A small CT image with its own UIDs (and `attributes`)."""
    uid = attributes.pop("SOPInstanceUID", None) or generate_uid()
    dataset = minimal_dataset(SOPInstanceUID=uid, **attributes)
    dataset.file_meta.MediaStorageSOPInstanceUID = uid
    return dataset


def sr_referencing(image: pydicom.Dataset) -> Dataset:
    """A Comprehensive SR of the image's study whose content and evidence reference the image."""
    sr = Dataset()
    sr.file_meta = FileMetaDataset()
    sr.file_meta.MediaStorageSOPClassUID = ComprehensiveSRStorage
    sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sr.SOPClassUID = ComprehensiveSRStorage
    sr.SOPInstanceUID = sr.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    sr.StudyInstanceUID = image.StudyInstanceUID
    sr.SeriesInstanceUID = generate_uid()
    sr.PatientName = image.PatientName
    sr.PatientID = image.PatientID
    sr.Modality = "SR"
    sr.ValueType = "CONTAINER"
    sr.ContinuityOfContent = "SEPARATE"
    title = Dataset()
    title.CodeValue, title.CodingSchemeDesignator, title.CodeMeaning = (
        "126000",
        "DCM",
        "Imaging Measurement Report",
    )
    sr.ConceptNameCodeSequence = [title]
    reference = Dataset()
    reference.ReferencedSOPClassUID = image.SOPClassUID
    reference.ReferencedSOPInstanceUID = image.SOPInstanceUID
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "IMAGE"
    item.ReferencedSOPSequence = [reference]
    sr.ContentSequence = [item]
    series = Dataset()
    series.SeriesInstanceUID = image.SeriesInstanceUID
    series.ReferencedSOPSequence = [reference]
    evidence = Dataset()
    evidence.StudyInstanceUID = image.StudyInstanceUID
    evidence.ReferencedSeriesSequence = [series]
    sr.CurrentRequestedProcedureEvidenceSequence = [evidence]
    return sr
