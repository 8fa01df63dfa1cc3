import pytest

from accounts.roles import Role
from accounts.tokens import issue_token


@pytest.fixture
def storer(tenant, member_factory):
    """A technologist of clinic alpha: may store instances."""
    return member_factory(tenant, Role.TECHNOLOGIST)


@pytest.fixture
def token(storer, tenant) -> str:
    return issue_token(storer, tenant)[1]
