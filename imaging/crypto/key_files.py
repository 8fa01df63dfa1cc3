"""Secret keys kept in files readable by the service account alone (mode 0600 under var/keys/)."""

import contextlib
import os
import stat
import tempfile
from pathlib import Path


class KeyFileError(Exception):
    """The key file is unusable. Messages name the file, never key material."""


def load_or_create_key_file(path: Path, size: int, label: str) -> bytes:
    """The `size` random bytes in `path`, created on first use. `label` names the key in errors."""
    if not path.exists():
        _create_key_file(path, size)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{label} file {path} is open to other users (mode {stat.S_IMODE(mode):o}); chmod 600 it."
        )
    key = path.read_bytes()
    if len(key) != size:
        raise KeyFileError(f"{label} file {path} does not hold a {size}-byte key.")
    return key


def _create_key_file(path: Path, size: int) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Written to a private temporary file and linked into place: the link fails if another process
    # created the key first (we then use theirs), and no process ever reads a half-written key.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(os.urandom(size))
            tmp.flush()
            os.fsync(tmp.fileno())
        # If another process won the race, its key is the key and ours is discarded.
        with contextlib.suppress(FileExistsError):
            os.link(tmp_name, path)
    finally:
        os.unlink(tmp_name)
