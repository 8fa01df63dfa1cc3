"""Object storage per region, through Django's storage API (django-storages for S3).

Objects are only ever ciphertext (imaging.crypto) under server-generated names; nothing here sees a
DICOM value. Writes are durable before they are published: local files are fsynced and renamed into
place, so a crash or a full disk never leaves a half-written object under its final name; an S3 object
is written by one PUT (or one completed multipart upload), which S3 makes visible whole or not at all.
Objects are never overwritten in place: names are new for each object, an S3 write under a name that
exists fails (FileExistsError), and the one rewrite of a name is the repair of a copy found missing or
corrupt (imaging.replication), which deletes a corrupt copy before writing the good bytes.

A region's entry in PALISADE_STORAGE is a folder (`location`), an S3 bucket (`"backend": "s3"`, see
docs/storage.md), or any Django storage class by import path (`backend` and its `options`).
"""

import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from django.utils.module_loading import import_string

from portal import regions
from portal.durability import fsync_path

# fsync releases the GIL; several in flight let the disk merge them (a group commit).
_FSYNC_THREADS = 8
# An S3 object being read is spooled to a temporary file past this size, so memory stays bounded.
_S3_READ_SPOOL_BYTES = 8 * 1024 * 1024
_HASH_CHUNK = 1024 * 1024


@cache
def _fsync_pool(pid: int) -> ThreadPoolExecutor:
    # One pool per process (keyed by pid: a pool's threads do not survive a worker's fork), kept for
    # the process's life rather than started for every batch.
    return ThreadPoolExecutor(max_workers=_FSYNC_THREADS, thread_name_prefix="fsync")


class StorageFull(OSError):
    """The region's storage has no room (ENOSPC or quota): the client may retry later (HTTP 507)."""


@cache
def region_storage(region: str) -> Storage:
    regions.jurisdiction_of(region)  # raises for an unconfigured region
    config = settings.PALISADE_STORAGE[region]
    backend = config.get("backend")
    if backend == "s3":
        return _s3_storage(config)
    if backend:
        return import_string(backend)(**config.get("options", {}))
    return FileSystemStorage(
        location=config["location"], file_permissions_mode=0o600, directory_permissions_mode=0o700
    )


def _s3_storage(config: dict) -> Storage:
    # Imported here: boto3 is loaded only by processes that talk to an S3 region.
    from storages.backends.s3 import S3Storage

    # Without keys in the entry, boto3 finds them itself (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
    # in the environment, an instance role), so that secrets need not sit in PALISADE_STORAGE.
    credentials = {key: config[key] for key in ("access_key", "secret_key") if config.get(key)}
    return S3Storage(
        bucket_name=config["bucket"],
        endpoint_url=config.get("endpoint_url"),
        region_name=config.get("region_name"),
        location=config.get("prefix", ""),
        # Never overwrite: a name that exists gets another name from get_available_name, which
        # DurableBatch refuses (FileExistsError) instead of writing beside it.
        file_overwrite=False,
        max_memory_size=_S3_READ_SPOOL_BYTES,
        default_acl=None,
        querystring_auth=False,
        **credentials,
    )


class DurableBatch:
    """Objects written together and made durable together.

    Each object goes to a partial file beside its final name, whose fsync starts as soon as the
    object is written, so the disk works while the next object is parsed and encrypted. Leaving the
    `with` block cleanly waits for those fsyncs, renames the objects into place and fsyncs their
    folders: nothing is visible before all of it is durable. On any failure every partial file is
    removed and nothing becomes visible. Storages without local paths (S3) get each object on exit.
    """

    def __init__(self, region: str) -> None:
        self.region = region
        self._storage = region_storage(region)
        self._root = Path(self._storage.location) if isinstance(self._storage, FileSystemStorage) else None
        self._pending: list[tuple[str, Path | BinaryIO]] = []
        self._fsyncs: list[Future] = []

    def __enter__(self) -> "DurableBatch":
        return self

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        """A file to write the object `name` into."""
        with _full_disk_as_storage_full(self.region):
            if self._root is None:
                sink = tempfile.TemporaryFile()  # noqa: SIM115 (closed when published or discarded)
                self._pending.append((name, sink))
                yield sink
                return
            final = self._root / name
            final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, partial = tempfile.mkstemp(dir=final.parent, prefix=".partial-")
            self._pending.append((name, Path(partial)))
            with os.fdopen(fd, "wb") as sink:
                yield sink
            self._fsyncs.append(_fsync_pool(os.getpid()).submit(fsync_path, Path(partial)))

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            with _full_disk_as_storage_full(self.region):
                self._publish()
        except BaseException:
            self._discard()
            raise

    def _publish(self) -> None:
        if self._root is None:
            for name, sink in self._pending:
                sink.seek(0)
                saved = self._storage.save(name, File(sink))
                sink.close()
                if saved != name:
                    self._storage.delete(saved)
                    raise FileExistsError(errno.EEXIST, f"object exists in storage region {self.region}")
            return
        for fsync in self._take_fsyncs():
            fsync.result()
        for name, partial in self._pending:
            os.replace(partial, self._root / name)
        folders = {(self._root / name).parent for name, _ in self._pending}
        list(_fsync_pool(os.getpid()).map(fsync_path, folders))
        self._pending = []

    def _take_fsyncs(self) -> list[Future]:
        fsyncs, self._fsyncs = self._fsyncs, []
        wait(fsyncs)
        return fsyncs

    def _discard(self) -> None:
        # Let the fsyncs in flight end before their files go: an error of theirs no longer matters.
        self._take_fsyncs()
        for _, pending in self._pending:
            if isinstance(pending, Path):
                pending.unlink(missing_ok=True)
            else:
                pending.close()
        self._pending = []


@contextmanager
def durable_writer(region: str, name: str) -> Iterator[BinaryIO]:
    """One object, durable and visible as `name` on a clean exit."""
    with DurableBatch(region) as batch, batch.open(name) as sink:
        yield sink


@contextmanager
def _full_disk_as_storage_full(region: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) and not isinstance(exc, StorageFull):
            raise StorageFull(exc.errno, f"storage region {region} is full") from exc
        raise


def open_object(region: str, name: str) -> BinaryIO:
    """The object's ciphertext; raises FileNotFoundError when the region has no such object."""
    return region_storage(region).open(name, "rb")


def object_sha256(region: str, name: str) -> str | None:
    """SHA-256 of the object's bytes as the region holds them (ciphertext: nothing is decrypted), or
    None when the region has no such object."""
    digest = hashlib.sha256()
    try:
        with open_object(region, name) as ciphertext:
            for chunk in iter(lambda: ciphertext.read(_HASH_CHUNK), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def copy_object(source_region: str, target_region: str, name: str) -> str:
    """Copy the object's bytes as they are from one region to another under the same name; returns
    the SHA-256 of what was written. The caller decides that the target may hold it (residency)."""
    digest = hashlib.sha256()
    with open_object(source_region, name) as source, durable_writer(target_region, name) as sink:
        for chunk in iter(lambda: source.read(_HASH_CHUNK), b""):
            digest.update(chunk)
            sink.write(chunk)
    return digest.hexdigest()


def delete_object(region: str, name: str) -> None:
    region_storage(region).delete(name)


def object_exists(region: str, name: str) -> bool:
    return region_storage(region).exists(name)
