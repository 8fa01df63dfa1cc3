"""Run as a process of its own (tests/test_memory_bounded.py): receive one large object, wait for the
worker to index it, read it back, and print this process's peak RSS growth and the plaintext digest."""

import hashlib
import json
import sys
import time
from pathlib import Path


def rss_kib(field: str, pid: str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def main(tenant_slug: str, path: str) -> None:
    import django

    django.setup()
    from imaging.ingest.receive import receive_file
    from imaging.models import IngestJob, StoredObject
    from imaging.objects import plaintext_chunks
    from portal.models import Tenant
    from portal.tenancy import tenant_scope

    tenant = Tenant.objects.get(slug=tenant_slug)
    baseline = rss_kib("VmRSS")
    with tenant_scope(tenant):
        job = receive_file(tenant, Path(path), source=IngestJob.Source.IMPORT)
        deadline = time.monotonic() + 300
        while IngestJob.objects.get(pk=job.pk).state == IngestJob.State.QUEUED:
            if time.monotonic() > deadline:
                raise SystemExit("not indexed within 300 s")
            time.sleep(0.2)
        digest = hashlib.sha256()
        for chunk in plaintext_chunks(StoredObject.objects.get(pk=job.stored_object_id)):
            digest.update(chunk)
        state = IngestJob.objects.get(pk=job.pk).state
    growth_mib = (rss_kib("VmHWM") - baseline) / 1024
    print(json.dumps({"state": state, "growth_mib": growth_mib, "sha256": digest.hexdigest()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
