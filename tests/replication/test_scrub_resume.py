"""A scrub stopped by --limit resumes where it stopped; a full pass starts over; the rate is kept."""

import io

import pytest
from django.core.management import CommandError, call_command

from imaging.replication.models import ScrubCursor
from imaging.replication.scrub import scrub_tenant
from imaging.replication.tasks import scrub_all_tenants
from imaging.storage import object_sha256, region_storage
from portal.tenancy import tenant_scope
from tests.replication.conftest import ingest_samples, replicate_pending, set_replicas

pytestmark = pytest.mark.usefixtures("regions")


def scrub(*args: str) -> str:
    out = io.StringIO()
    call_command("scrub", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def three_objects(tenant):
    set_replicas(tenant, "eu-2")
    stored = ingest_samples(tenant, "CT_small.dcm", "MR_small.dcm", "CR_small_6154.dcm")
    replicate_pending(tenant)
    return sorted(stored, key=lambda each: each.pk)


def test_a_scrub_stopped_by_its_limit_continues_where_it_stopped(tenant, three_objects):
    first = scrub("--tenant", tenant.slug, "--limit", "2")

    assert "2 objects, 4 copies checked" in first and "the next scrub resumes" in first
    with tenant_scope(tenant):
        assert ScrubCursor.objects.get().last_object_id == three_objects[1].pk

    second = scrub("--tenant", tenant.slug, "--limit", "2")

    assert "1 objects, 2 copies checked" in second and "pass complete" in second
    with tenant_scope(tenant):
        cursor = ScrubCursor.objects.get()
    assert (cursor.last_object_id, cursor.checked) == (None, 6)
    assert cursor.pass_finished_at is not None

    assert "3 objects, 6 copies checked" in scrub("--tenant", tenant.slug)


def test_the_rate_spaces_objects_out(tenant, three_objects):
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with tenant_scope(tenant):
        report = scrub_tenant(tenant, rate=2.0, clock=lambda: now[0], sleep=sleep)

    assert report.objects == 3
    assert waits == [0.5, 0.5]


def test_a_limit_or_rate_must_be_positive(tenant):
    with pytest.raises(CommandError, match="--limit"):
        call_command("scrub", "--limit", "0")
    with pytest.raises(CommandError, match="--rate"):
        call_command("scrub", "--rate", "-1")


def test_the_scheduled_scrub_repairs_what_it_finds(tenant, three_objects):
    damaged = three_objects[0]
    region_storage("eu-2").delete(damaged.storage_name)

    assert scrub_all_tenants() == 3  # the task's body, as beat's message runs it

    assert object_sha256("eu-2", damaged.storage_name) == damaged.ciphertext_sha256
