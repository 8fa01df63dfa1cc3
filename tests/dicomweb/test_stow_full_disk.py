"""A full disk answers STOW-RS with 507 and leaves nothing half-written or indexed."""

from imaging.models import IngestJob, StoredObject
from portal.tenancy import tenant_scope
from tests.dicomweb.stow import post, related_body, sample, stow_url


def test_a_full_disk_answers_507_and_keeps_nothing(client, tenant, token, tiny_disk):
    (tiny_disk / "ballast").write_bytes(bytes(230 * 1024))

    response = post(client, stow_url(tenant.slug), related_body([sample("CT_small.dcm")]), token=token)

    assert response.status_code == 507
    with tenant_scope(tenant):
        assert not IngestJob.objects.exclude(state=IngestJob.State.REJECTED).exists()
        assert not StoredObject.objects.exists()
    assert sorted(p.name for p in tiny_disk.rglob("*") if p.is_file()) == ["ballast"]


def test_a_disk_that_fills_half_way_through_a_request_keeps_none_of_its_instances(
    client, tenant, token, tiny_disk
):
    # Several instances are encrypted at once on the ingest threads (imaging/ingest/receive.py): the
    # first fit, a later one finds the disk full. None of them may stay, half-written or whole.
    (tiny_disk / "ballast").write_bytes(bytes(100 * 1024))

    response = post(client, stow_url(tenant.slug), related_body([sample("CT_small.dcm")] * 6), token=token)

    assert response.status_code == 507
    failures = response.json()["00081198"]["Value"]
    assert len(failures) == 6
    with tenant_scope(tenant):
        assert not IngestJob.objects.exclude(state=IngestJob.State.REJECTED).exists()
        assert not StoredObject.objects.exists()
    assert sorted(p.name for p in tiny_disk.rglob("*") if p.is_file()) == ["ballast"]
