"""The backup format: a folder with a manifest and two encrypted files.

    manifest.json          format, backup ID, time, master key ID, the wrapped backup key, the
                           migrations applied, and the SHA-256 and size of each file below
    database.jsonl.plsd    every row of the database, Django's JSON Lines serialisation
    objects.jsonl.plsd     every stored object: its copies (region, name), ciphertext hash and size

Each file is AES-256-GCM in authenticated segments (imaging.crypto.segments) under a random backup
key, itself wrapped by the master key provider: a backup is useless without the master key, and the
study secrets (imaging.crypto.keys) are never in it, so a study shredded after the backup stays
unreadable when the backup is restored. The manifest's hashes let anyone check a copy of the backup
without keys; decrypting checks every segment.
"""

import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from imaging.crypto.providers import KeyManagementError, get_master_key_provider
from imaging.crypto.segments import KEY_SIZE, BlobIntegrityError, decrypt_stream, encrypt_stream

FORMAT = "palisade-backup/1"
MANIFEST = "manifest.json"
DATABASE = "database.jsonl.plsd"
OBJECTS = "objects.jsonl.plsd"


class BackupError(Exception):
    """The backup cannot be written or read as asked; the message names the file and the reason."""


@dataclass(frozen=True)
class Manifest:
    path: Path
    content: dict

    @property
    def backup_id(self) -> str:
        return self.content["backup_id"]

    @property
    def migrations(self) -> dict[str, list[str]]:
        return self.content["migrations"]


def new_backup_key() -> tuple[bytes, bytes, str]:
    """A random backup key, the same wrapped by the master key, and the master key's ID."""
    provider = get_master_key_provider()
    key = os.urandom(KEY_SIZE)
    return key, provider.wrap(key), provider.key_id


def write_encrypted(folder: Path, name: str, key: bytes, backup_id: str, chunks: Iterable[bytes]) -> dict:
    """Encrypt `chunks` into folder/name, streaming; returns its manifest entry."""
    path = folder / name
    with _private_file(path) as sink:
        digest = encrypt_stream(key, _ChunkReader(chunks), sink, tenant_id=0, object_id=f"{backup_id}/{name}")
        sink.flush()
        os.fsync(sink.fileno())
    return {"sha256": digest.ciphertext_sha256, "size": digest.ciphertext_size}


def write_manifest(folder: Path, content: dict) -> None:
    # Written last, and atomically: a folder without a manifest is an unfinished backup.
    partial = folder / f".{MANIFEST}.partial"
    with _private_file(partial) as sink:
        sink.write(json.dumps(content, indent=2, sort_keys=True).encode())
        sink.flush()
        os.fsync(sink.fileno())
    partial.replace(folder / MANIFEST)


def read_manifest(folder: Path) -> Manifest:
    """The manifest, after checking every file's size and SHA-256 against it."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"{folder} is not a backup: {MANIFEST} is missing (an unfinished backup?).")
    try:
        content = json.loads(path.read_text())
    except ValueError as exc:
        raise BackupError(f"{path} is not valid JSON: {exc}") from None
    if content.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {content.get('format')!r}.")
    for name, expected in content["files"].items():
        actual = _file_digest(folder / name)
        if actual != (expected["sha256"], expected["size"]):
            raise BackupError(f"{folder / name} does not match the manifest (changed, truncated or missing).")
    return Manifest(folder, content)


def backup_key(manifest: Manifest) -> bytes:
    """Unwrap the backup's key with the configured master key provider."""
    provider = get_master_key_provider()
    wrapped_by = manifest.content["master_key_id"]
    if wrapped_by not in provider.key_ids:
        raise BackupError(
            f"Backup {manifest.backup_id} was encrypted under master key {wrapped_by}, "
            f"but the configured master key is {provider.key_id}."
        )
    try:
        return provider.unwrap(bytes.fromhex(manifest.content["wrapped_key"]))
    except KeyManagementError as exc:
        raise BackupError(f"Backup {manifest.backup_id}: {exc}") from None


def read_lines(manifest: Manifest, name: str, key: bytes) -> Iterator[bytes]:
    """The decrypted lines of one file of the backup, each segment authenticated before use."""
    pending = b""
    try:
        with (manifest.path / name).open("rb") as source:
            for plaintext in decrypt_stream(
                key, source, tenant_id=0, object_id=f"{manifest.backup_id}/{name}"
            ):
                pending += plaintext
                *lines, pending = pending.split(b"\n")
                yield from (line for line in lines if line)
    except BlobIntegrityError as exc:
        raise BackupError(f"{manifest.path / name}: {exc}") from None
    if pending:
        yield pending


def file_sha256(source: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: source.read(1024 * 1024), b""):
        digest.update(block)
    return digest.hexdigest()


def _private_file(path: Path) -> BinaryIO:
    # Created new (never over an earlier backup's file) and readable by the service account only.
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _file_digest(path: Path) -> tuple[str, int] | None:
    if not path.is_file():
        return None
    with path.open("rb") as source:
        return file_sha256(source), path.stat().st_size


class _ChunkReader(io.RawIOBase):
    """A file over an iterator of byte chunks, so that rows are encrypted as they are serialised and
    no plaintext copy of the database ever touches the disk."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count
