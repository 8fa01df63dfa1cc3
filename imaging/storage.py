"""Object storage per region, through Django's storage API (django-storages for S3).

Objects are only ever ciphertext (imaging.crypto) under server-generated names; nothing here sees a
DICOM value. Writes are durable before they are published: a local file is fsynced and renamed into
place, so a crash or a full disk never leaves a half-written object under its final name.
"""

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from django.utils.module_loading import import_string

from portal import regions


class StorageFull(OSError):
    """The region's storage has no room (ENOSPC or quota): the client may retry later (HTTP 507)."""


@cache
def region_storage(region: str) -> Storage:
    regions.jurisdiction_of(region)  # raises for an unconfigured region
    config = settings.PALISADE_STORAGE[region]
    backend = config.get("backend")
    if backend:
        return import_string(backend)(**config.get("options", {}))
    return FileSystemStorage(
        location=config["location"], file_permissions_mode=0o600, directory_permissions_mode=0o700
    )


def _local_root(storage: Storage) -> Path | None:
    return Path(storage.location) if isinstance(storage, FileSystemStorage) else None


@contextmanager
def durable_writer(region: str, name: str) -> Iterator[BinaryIO]:
    """Yield a file to write an object into; on a clean exit it is durable and visible as `name`."""
    storage = region_storage(region)
    root = _local_root(storage)
    try:
        if root is not None:
            final = root / name
            final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, partial = tempfile.mkstemp(dir=final.parent, prefix=".partial-")
            try:
                with os.fdopen(fd, "wb") as sink:
                    yield sink
                    sink.flush()
                    os.fsync(sink.fileno())
                os.replace(partial, final)
                _fsync_directory(final.parent)
            except BaseException:
                Path(partial).unlink(missing_ok=True)
                raise
        else:
            with tempfile.TemporaryFile() as sink:
                yield sink
                sink.seek(0)
                storage.save(name, File(sink))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(exc.errno, f"storage region {region} is full") from exc
        raise


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_object(region: str, name: str) -> BinaryIO:
    return region_storage(region).open(name, "rb")


def delete_object(region: str, name: str) -> None:
    region_storage(region).delete(name)


def object_exists(region: str, name: str) -> bool:
    return region_storage(region).exists(name)
