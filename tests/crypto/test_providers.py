import multiprocessing
import os
import stat
import threading

import pkcs11
import pytest
from django.core.exceptions import ImproperlyConfigured
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.exceptions import AttributeSensitive

from imaging.crypto.providers import (
    FileMasterKeyProvider,
    KeyManagementError,
    Pkcs11MasterKeyProvider,
    get_master_key_provider,
)


def test_file_provider_creates_a_private_32_byte_key_on_first_use(tmp_path):
    path = tmp_path / "keys" / "master.key"

    FileMasterKeyProvider(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(path.read_bytes()) == 32
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]


def test_file_provider_wraps_and_unwraps_and_keeps_its_key_across_restarts(tmp_path):
    path = tmp_path / "master.key"
    data_key = os.urandom(32)

    wrapped = FileMasterKeyProvider(path).wrap(data_key)
    restarted = FileMasterKeyProvider(path)

    assert data_key not in wrapped
    assert restarted.unwrap(wrapped) == data_key
    assert restarted.key_id.startswith("file:")
    assert path.read_bytes().hex() not in restarted.key_id


def test_file_provider_refuses_a_key_wrapped_by_another_master_key(tmp_path):
    wrapped = FileMasterKeyProvider(tmp_path / "a.key").wrap(os.urandom(32))
    other = FileMasterKeyProvider(tmp_path / "b.key")

    with pytest.raises(KeyManagementError, match=other.key_id):
        other.unwrap(wrapped)


def test_file_provider_refuses_a_key_file_other_users_can_read(tmp_path):
    path = tmp_path / "master.key"
    FileMasterKeyProvider(path)
    path.chmod(0o644)

    with pytest.raises(KeyManagementError, match="chmod 600"):
        FileMasterKeyProvider(path)


def test_file_provider_refuses_a_key_file_of_the_wrong_length(tmp_path):
    path = tmp_path / "master.key"
    path.write_bytes(b"short")
    path.chmod(0o600)

    with pytest.raises(KeyManagementError, match="32-byte"):
        FileMasterKeyProvider(path)


def test_processes_starting_at_once_agree_on_one_master_key(tmp_path):
    path = tmp_path / "keys" / "master.key"
    barrier = threading.Barrier(8)
    key_ids = []

    def start():
        barrier.wait()
        key_ids.append(FileMasterKeyProvider(path).key_id)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(key_ids) == 8
    assert len(set(key_ids)) == 1
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]


def test_the_configured_provider_is_built_once_per_process(settings, master_key_file):
    provider = get_master_key_provider()

    assert isinstance(provider, FileMasterKeyProvider)
    assert provider.path == master_key_file
    assert get_master_key_provider() is provider


def test_an_unknown_provider_is_a_configuration_error(settings):
    settings.PALISADE_KEY_PROVIDER = "vault"

    with pytest.raises(ImproperlyConfigured, match="'file' or 'pkcs11'"):
        get_master_key_provider()


def test_the_pkcs11_provider_needs_library_token_and_pin(settings):
    settings.PALISADE_KEY_PROVIDER = "pkcs11"
    settings.PALISADE_PKCS11_LIBRARY = ""
    settings.PALISADE_PKCS11_TOKEN = ""
    settings.PALISADE_PKCS11_PIN = ""

    with pytest.raises(ImproperlyConfigured, match="PALISADE_PKCS11_LIBRARY, PALISADE_PKCS11_TOKEN"):
        get_master_key_provider()


def test_hsm_master_key_is_generated_in_the_token_sensitive_and_not_extractable(softhsm_token):
    provider = Pkcs11MasterKeyProvider(softhsm_token.library, softhsm_token.label, softhsm_token.pin, "hsm-a")

    token = pkcs11.lib(softhsm_token.library).get_token(token_label=softhsm_token.label)
    # Login state is per process, and the provider has logged in: this session shares it.
    with token.open() as session:
        key = session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label="hsm-a")
        assert key[Attribute.TOKEN] is True
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.VALUE_LEN] == 32
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]  # Reading it is the test.
        assert provider.key_id == f"pkcs11:{softhsm_token.label}/hsm-a/{bytes(key[Attribute.ID]).hex()}"


def test_hsm_provider_wraps_and_unwraps_inside_the_token(softhsm_token):
    provider = Pkcs11MasterKeyProvider(softhsm_token.library, softhsm_token.label, softhsm_token.pin, "hsm-b")
    data_key = os.urandom(32)

    wrapped = provider.wrap(data_key)
    reopened = Pkcs11MasterKeyProvider(softhsm_token.library, softhsm_token.label, softhsm_token.pin, "hsm-b")

    assert data_key not in wrapped
    assert wrapped != provider.wrap(data_key)  # A fresh IV per wrap.
    assert reopened.key_id == provider.key_id
    assert reopened.unwrap(wrapped) == data_key


def test_hsm_provider_refuses_a_tampered_or_foreign_wrapped_key(softhsm_token):
    provider = Pkcs11MasterKeyProvider(softhsm_token.library, softhsm_token.label, softhsm_token.pin, "hsm-c")
    other = Pkcs11MasterKeyProvider(softhsm_token.library, softhsm_token.label, softhsm_token.pin, "hsm-d")
    wrapped = bytearray(provider.wrap(os.urandom(32)))

    with pytest.raises(KeyManagementError, match="could not unwrap"):
        other.unwrap(bytes(wrapped))
    wrapped[-1] ^= 1
    with pytest.raises(KeyManagementError, match="could not unwrap"):
        provider.unwrap(bytes(wrapped))


def test_hsm_provider_reports_a_wrong_pin_or_token_in_one_line(softhsm_token):
    with pytest.raises(KeyManagementError, match="Cannot log in"):
        Pkcs11MasterKeyProvider(softhsm_token.library, softhsm_token.label, "0000", "hsm-a")
    with pytest.raises(KeyManagementError, match="No PKCS#11 token"):
        Pkcs11MasterKeyProvider(softhsm_token.library, "no-such-token", softhsm_token.pin, "hsm-a")


def _unwrap_in_child(wrapped: bytes, results) -> None:
    results.put(get_master_key_provider().unwrap(wrapped))


def test_a_forked_worker_uses_the_hsm_through_its_own_initialisation(hsm_settings):
    wrapped = get_master_key_provider().wrap(b"k" * 32)
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    child = context.Process(target=_unwrap_in_child, args=(wrapped, results))
    child.start()
    child.join(timeout=30)

    assert child.exitcode == 0
    assert results.get(timeout=5) == b"k" * 32
