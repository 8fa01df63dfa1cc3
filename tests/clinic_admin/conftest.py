import pytest
from django.test import Client

from accounts.roles import Role
from imaging.crypto import keys


@pytest.fixture(autouse=True)
def master_key_file(settings, tmp_path):
    """Each test its own file master key, so that destroying a study shreds a secret of its own."""
    settings.PALISADE_KEY_PROVIDER = "file"
    settings.PALISADE_MASTER_KEY_FILE = tmp_path / "keys" / "master.key"
    keys._unwrap_tenant_key.cache_clear()
    yield settings.PALISADE_MASTER_KEY_FILE
    keys._unwrap_tenant_key.cache_clear()


@pytest.fixture
def admin(tenant, member_factory):
    return member_factory(tenant, Role.TENANT_ADMIN)


@pytest.fixture
def second_admin(tenant, member_factory):
    return member_factory(tenant, Role.TENANT_ADMIN)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin) -> Client:
    return signed_in(admin)
