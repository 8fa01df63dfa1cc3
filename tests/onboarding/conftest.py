import pytest

from accounts.roles import Role


@pytest.fixture
def clinic_admin(tenant, member_factory):
    return member_factory(tenant, Role.TENANT_ADMIN)


@pytest.fixture
def admin_client(client, clinic_admin):
    client.force_login(clinic_admin)
    return client
