"""Real sample studies ingested through the pipeline, and reading them back."""

from pathlib import Path

from django.conf import settings

from imaging.models import StoredObject, Study
from imaging.objects import plaintext_chunks
from portal.models import Tenant
from portal.tenancy import tenant_scope
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import ingest

# Three samples of three different studies (and modalities).
SAMPLE_NAMES = ["CT_small.dcm", "MR_small.dcm", "DX_dog.dcm"]


def ingest_samples(tenant: Tenant, names: list[str] = SAMPLE_NAMES) -> dict[str, Study]:
    """Ingest each sample; returns its study by sample name."""
    studies = {}
    for name in names:
        job = ingest(tenant, SAMPLES / name)
        assert job.stored_object_id, job.error_reason
        with tenant_scope(tenant):
            studies[name] = StoredObject.objects.get(pk=job.stored_object_id).instance.series.study
    return studies


def read_all(tenant: Tenant) -> dict[str, bytes]:
    """Every stored object's plaintext, by object ID."""
    with tenant_scope(tenant):
        objects = StoredObject.objects.select_related("instance__series__study").order_by("pk")
        return {str(stored.pk): b"".join(plaintext_chunks(stored)) for stored in objects}


def blob_path(stored: StoredObject, region: str | None = None) -> Path:
    return Path(settings.PALISADE_STORAGE[region or stored.region]["location"]) / stored.storage_name
