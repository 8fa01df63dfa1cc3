"""Making a write durable by path: a file's bytes, or a folder's entries (a new, renamed or deleted name
is durable only once its folder is). Used by storage, the key files and the audit journal."""

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
