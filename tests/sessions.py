"""Session-control tests' tools: a frozen clock, members whose clinic asks no second factor, clients."""

import datetime

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import UserSession
from accounts.security_policy import policy_for_tenant
from portal.models import Tenant

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's
FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


class FrozenClock:
    """django.utils.timezone.now, stopped; the session store, the middleware and the audit trail's
    timestamps of sessions all read it."""

    def __init__(self) -> None:
        self.now = timezone.now().replace(microsecond=0)

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


def freeze_clock(monkeypatch) -> FrozenClock:
    clock = FrozenClock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


def set_policy(tenant: Tenant, **fields) -> None:
    """The clinic's security policy with `fields`, asking no second factor (tests/test_mfa.py's subject)."""
    policy = policy_for_tenant(tenant)
    policy.mfa_required_roles = []
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()


def signed_in(user, **client_options) -> Client:
    client = Client(**client_options)
    client.force_login(user)
    return client


def sign_in_with_form(user, **client_options) -> Client:
    client = Client(**client_options)
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response
    return client


def is_signed_in(client: Client) -> bool:
    return client.get(reverse("sessions")).status_code == 200


def session_of(client: Client) -> UserSession:
    from accounts.sessions.services import key_digest

    return UserSession.objects.get(key_digest=key_digest(client.session.session_key))


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []
