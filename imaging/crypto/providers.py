"""Master key providers: the key-encryption key at the top of the envelope hierarchy.

A provider only wraps and unwraps tenant keys; it never hands out its own key. The embedded default
keeps a key file under var/keys/; a hospital plugs in its hardware security module over PKCS#11, in
which case the master key is generated inside the token and never leaves it.
"""

import contextlib
import functools
import hashlib
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import pkcs11
from cryptography.hazmat.primitives import keywrap
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey, NoSuchToken, PKCS11Error
from pkcs11.mechanisms import GCMParams

from imaging.crypto.key_files import KeyFileError, load_or_create_key_file
from portal.durability import fsync_path

MASTER_KEY_BYTES = 32


class KeyManagementError(Exception):
    """A key could not be obtained or unwrapped. Messages name key IDs, never key material."""


class StudySecretDestroyedError(KeyManagementError):
    """The study's secret is gone from the key provider: the study was crypto-shredded."""


class MasterKeyProvider(Protocol):
    key_id: str
    # Every master key this provider unwraps with: the current one, and retired ones kept during a
    # master-key rotation (docs/keys.md) until nothing wrapped by them is left or retained.
    key_ids: frozenset[str]

    def wrap(self, key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...

    # Per-study secrets (imaging.crypto.keys): kept by the provider, never in the database, so that
    # destroying one also shreds the study in every earlier database backup.
    def create_study_secret(self) -> str: ...

    def study_secret(self, ref: str) -> bytes: ...

    def destroy_study_secret(self, ref: str) -> bool: ...


STUDY_SECRET_BYTES = 32


class FileMasterKeyProvider:
    """The embedded default: a random 256-bit key in a file readable by the service account only.

    Wrapping is AES key wrap with padding (RFC 5649, NIST SP 800-38F "KWP"): it is made for wrapping
    keys, it is deterministic so there is no nonce to manage, and its integrity check rejects a
    wrapped key that was altered or wrapped under another master key.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._key = _load_or_create_key_file(self.path)
        self.key_id = file_key_id(self._key)
        # Retired master keys (a rotation in progress) unwrap what they wrapped; they never wrap.
        self._retired = [
            _load_or_create_key_file(retired) for retired in sorted(self.retired_key_dir.glob("*.key"))
        ]
        self.key_ids = frozenset([self.key_id, *map(file_key_id, self._retired)])

    @property
    def retired_key_dir(self) -> Path:
        return self.path.parent / "retired-master-keys"

    def wrap(self, key: bytes) -> bytes:
        return keywrap.aes_key_wrap_with_padding(self._key, key)

    def unwrap(self, wrapped: bytes) -> bytes:
        # KWP's integrity check tells the key that wrapped it: the current one first, then the retired.
        for master_key in (self._key, *self._retired):
            try:
                return keywrap.aes_key_unwrap_with_padding(master_key, wrapped)
            except keywrap.InvalidUnwrap:
                continue
        raise KeyManagementError(f"Master key {self.key_id} could not unwrap the key.")

    @property
    def study_secret_dir(self) -> Path:
        """Beside the master key, on the key volume that database backups never include."""
        return self.path.parent / "study-secrets"

    def create_study_secret(self) -> str:
        ref = uuid.uuid4().hex
        load_or_create_key_file(self._study_secret_path(ref), STUDY_SECRET_BYTES, "Study secret")
        return ref

    def study_secret(self, ref: str) -> bytes:
        path = self._study_secret_path(ref)
        if not path.exists():
            raise StudySecretDestroyedError(f"Study secret {ref} does not exist in {self.study_secret_dir}.")
        try:
            return load_or_create_key_file(path, STUDY_SECRET_BYTES, "Study secret")
        except KeyFileError as exc:
            raise KeyManagementError(str(exc)) from None

    def destroy_study_secret(self, ref: str) -> bool:
        path = self._study_secret_path(ref)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        # The unlink is made durable before the caller deletes anything else: a crash must not bring
        # the secret back while the study's rows are already gone.
        fsync_path(path.parent)
        return True

    def _study_secret_path(self, ref: str) -> Path:
        # `ref` is generated here (a UUID's hex), never taken from a request; checked all the same so
        # that a tampered database row cannot point outside the folder.
        if not _SECRET_REF.fullmatch(ref):
            raise KeyManagementError("Malformed study secret reference.")
        return self.study_secret_dir / ref[:2] / f"{ref}.key"


_SECRET_REF = re.compile(r"[0-9a-f]{32}")


def file_key_id(key: bytes) -> str:
    # A fingerprint, so that rows wrapped under another master key are named as such instead of
    # failing as a bare integrity error. A truncated hash of a random 256-bit key reveals nothing
    # usable about it; the domain prefix keeps it distinct from any other hash of the key.
    return "file:" + hashlib.sha256(b"palisade master key id\x00" + key).hexdigest()[:16]


def _load_or_create_key_file(path: Path) -> bytes:
    try:
        return load_or_create_key_file(path, MASTER_KEY_BYTES, "Master key")
    except KeyFileError as exc:
        raise KeyManagementError(str(exc)) from None


class Pkcs11MasterKeyProvider:
    """An AES-256 master key inside a PKCS#11 token (HSM); wrap and unwrap run in the token.

    Mechanism: CKM_AES_GCM through C_Encrypt/C_Decrypt of the tenant key bytes. SoftHSM2 2.6 offers
    CKM_AES_KEY_WRAP(_PAD) only through C_WrapKey/C_UnwrapKey, which wrap key *objects*: we would have
    to import every tenant key into the token and unwrap it as an extractable object to read it
    back. GCM treats the tenant key as data, authenticates it, and is supported by SoftHSM2 and by
    hardware HSMs alike. The 96-bit IV is random: NIST SP 800-38D section 8.3 allows 2^32 random-IV
    invocations per key, and this key wraps one tenant key per tenant key version.

    Create the master key once (at deployment, e.g. by running `rotate_keys` or any ingest) before
    starting several workers: two processes creating it at the same instant would leave two keys
    under one label, which is then refused rather than guessed between.

    Retired keys (`retired_key_labels`, a master-key rotation in progress, docs/keys.md) are only
    looked up, never generated: they unwrap what they wrapped and never wrap anything new. A study
    secret found under a retired label is moved to the current label (the same token object,
    relabelled, never copied), so that `rotate_keys`, which reads every study's secret, leaves none
    behind under the old label.
    """

    WRAP_FORMAT = b"\x01"
    _IV_BYTES = 12
    _AAD = b"palisade/master-wrap/v1"

    def __init__(
        self,
        library_path: str,
        token_label: str,
        pin: str,
        key_label: str,
        retired_key_labels: Sequence[str] = (),
    ) -> None:
        self._session = _logged_in_session(library_path, token_label, pin, os.getpid())
        self._key_label = key_label
        self._key = self._find_or_generate_key(key_label)
        self.key_id = self._pkcs11_key_id(token_label, key_label, self._key)
        # Ordered, without duplicates and without the current label (listing it twice changes nothing).
        self._retired_labels = list(dict.fromkeys(x for x in retired_key_labels if x != key_label))
        self._retired = [self._find_retired_key(label) for label in self._retired_labels]
        self.key_ids = frozenset(
            [
                self.key_id,
                *(
                    self._pkcs11_key_id(token_label, label, key)
                    for label, key in zip(self._retired_labels, self._retired, strict=True)
                ),
            ]
        )

    @staticmethod
    def _pkcs11_key_id(token_label: str, key_label: str, key: pkcs11.SecretKey) -> str:
        return f"pkcs11:{token_label}/{key_label}/{bytes(key[Attribute.ID]).hex()}"

    def _find_retired_key(self, key_label: str) -> pkcs11.SecretKey:
        # Never generated: a fresh key under a retired label would unwrap nothing and hide a typo.
        try:
            return self._session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=key_label)
        except NoSuchKey:
            raise KeyManagementError(
                f"No PKCS#11 key labelled {key_label!r} (listed in PALISADE_PKCS11_RETIRED_KEY_LABELS)."
            ) from None
        except MultipleObjectsReturned:
            raise KeyManagementError(
                f"Several PKCS#11 keys are labelled {key_label!r} "
                "(listed in PALISADE_PKCS11_RETIRED_KEY_LABELS)."
            ) from None

    def _find_or_generate_key(self, key_label: str) -> pkcs11.SecretKey:
        try:
            return self._session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=key_label)
        except NoSuchKey:
            pass
        except MultipleObjectsReturned:
            raise KeyManagementError(f"Several PKCS#11 keys are labelled {key_label!r}.") from None
        return self._session.generate_key(
            KeyType.AES,
            256,
            label=key_label,
            id=os.urandom(8),  # Tells a re-created key from the one that wrapped older rows.
            store=True,
            capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
            template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )

    def wrap(self, key: bytes) -> bytes:
        iv = os.urandom(self._IV_BYTES)
        sealed = self._key.encrypt(key, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, self._AAD))
        return self.WRAP_FORMAT + iv + sealed

    def unwrap(self, wrapped: bytes) -> bytes:
        if wrapped[:1] != self.WRAP_FORMAT:
            raise KeyManagementError(f"Master key {self.key_id}: unknown wrapped-key format.")
        iv, sealed = wrapped[1 : 1 + self._IV_BYTES], wrapped[1 + self._IV_BYTES :]
        # The GCM tag tells the key that wrapped it: the current one first, then the retired ones.
        for master_key in (self._key, *self._retired):
            try:
                return master_key.decrypt(
                    sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, self._AAD)
                )
            except PKCS11Error:
                # Tokens report a failed GCM tag check variously (SoftHSM2: CKR_GENERAL_ERROR).
                continue
        raise KeyManagementError(f"Master key {self.key_id} could not unwrap the key.")

    # Study secrets are token objects (CKO_DATA, private: readable after login only), labelled with the
    # master key's label so that two master keys on one token never share them.
    def create_study_secret(self) -> str:
        ref = uuid.uuid4().hex
        self._session.create_object(
            {
                Attribute.CLASS: ObjectClass.DATA,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.LABEL: self._secret_label(ref),
                Attribute.VALUE: os.urandom(STUDY_SECRET_BYTES),
            }
        )
        return ref

    def study_secret(self, ref: str) -> bytes:
        found = self._secret_objects(ref, self._key_label)
        if not found:
            for label in self._retired_labels:
                found = self._secret_objects(ref, label)
                if found:
                    # Moved, not copied: one object per secret, so that destroying it still shreds.
                    # Once every study's secret was read (rotate_keys does), the old label can go.
                    for secret in found:
                        # A token that refuses the change (CKA_MODIFIABLE false) still reads it here;
                        # it then stays under the retired label, which must stay listed.
                        with contextlib.suppress(PKCS11Error):
                            secret[Attribute.LABEL] = self._secret_label(ref)
                    break
        if not found:
            raise StudySecretDestroyedError(f"Study secret {ref} does not exist in the PKCS#11 token.")
        return bytes(found[0][Attribute.VALUE])

    def destroy_study_secret(self, ref: str) -> bool:
        # Under every label this provider knows: a secret not yet moved from a retired label must go too.
        found = [
            secret
            for label in (self._key_label, *self._retired_labels)
            for secret in self._secret_objects(ref, label)
        ]
        for secret in found:
            secret.destroy()
        return bool(found)

    def _secret_label(self, ref: str, key_label: str | None = None) -> str:
        return f"{key_label or self._key_label}/study/{ref}"

    def _secret_objects(self, ref: str, key_label: str) -> list:
        template = {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: self._secret_label(ref, key_label)}
        return list(self._session.get_objects(template))


@functools.cache
def _logged_in_session(library_path: str, token_label: str, pin: str, pid: int) -> pkcs11.Session:
    """One logged-in session per token and process, shared by its providers.

    PKCS#11 login state belongs to the application, not the session: a second C_Login on the same
    token fails with CKR_USER_ALREADY_LOGGED_IN. Sessions are thread-safe in python-pkcs11 (each
    operation holds the session's lock). `pid` is in the cache key because PKCS#11 state does not
    survive fork(): a forked worker (Celery prefork) initialises the library and logs in again.
    """
    library = _open_library(library_path, pid)
    try:
        token = library.get_token(token_label=token_label)
    except NoSuchToken:
        raise KeyManagementError(f"No PKCS#11 token labelled {token_label!r}.") from None
    try:
        return token.open(rw=True, user_pin=pin)
    except PKCS11Error as exc:
        raise KeyManagementError(f"Cannot log in to PKCS#11 token {token_label!r}: {exc!r}") from None


_library_pids: dict[str, int] = {}


def _open_library(path: str, pid: int):
    try:
        library = pkcs11.lib(path)
    except PKCS11Error as exc:
        raise KeyManagementError(f"Cannot load PKCS#11 library {path}: {exc!r}") from None
    if _library_pids.setdefault(path, pid) != pid:
        # Initialised by the parent before fork(): PKCS#11 (notes on C_Initialize) has a forked
        # child call C_Initialize itself before using the library.
        library.reinitialize()
        _library_pids[path] = pid
    return library


def get_master_key_provider() -> MasterKeyProvider:
    """The configured provider, built once per process (a forked child builds its own)."""
    return _provider_for_process(os.getpid())


@functools.cache
def _provider_for_process(pid: int) -> MasterKeyProvider:
    kind = settings.PALISADE_KEY_PROVIDER
    if kind == "file":
        return FileMasterKeyProvider(Path(settings.PALISADE_MASTER_KEY_FILE))
    if kind == "pkcs11":
        missing = [
            name
            for name in ("PALISADE_PKCS11_LIBRARY", "PALISADE_PKCS11_TOKEN", "PALISADE_PKCS11_PIN")
            if not getattr(settings, name)
        ]
        if missing:
            raise ImproperlyConfigured(f"PALISADE_KEY_PROVIDER=pkcs11 needs {', '.join(missing)}.")
        return Pkcs11MasterKeyProvider(
            settings.PALISADE_PKCS11_LIBRARY,
            settings.PALISADE_PKCS11_TOKEN,
            settings.PALISADE_PKCS11_PIN,
            settings.PALISADE_PKCS11_KEY_LABEL,
            settings.PALISADE_PKCS11_RETIRED_KEY_LABELS,
        )
    raise ImproperlyConfigured(f"PALISADE_KEY_PROVIDER must be 'file' or 'pkcs11', not {kind!r}.")


@receiver(setting_changed)
def _forget_provider(setting: str, **kwargs) -> None:
    if setting.startswith(("PALISADE_KEY_PROVIDER", "PALISADE_MASTER_KEY_FILE", "PALISADE_PKCS11_")):
        _provider_for_process.cache_clear()
