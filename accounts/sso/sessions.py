"""What a session remembers of a single sign-on: that the clinic's provider vouched for a second factor.

Set after login() when the clinic delegates MFA to its provider and the ID token's acr/amr shows a
second factor; cleared by every sign-in (signals.py), so it never outlives the sign-in that earned it.
The second-factor middleware (accounts.mfa.middleware) lets such a session through without asking for
Palisade's own factor.
"""

import time
from typing import Any

from django.http import HttpRequest

from accounts.sso.models import OidcProvider

MFA_BY_PROVIDER_SESSION_KEY = "palisade_mfa_via_idp"


def mark_mfa_by_provider(request: HttpRequest, provider: OidcProvider, claims: dict[str, Any]) -> None:
    acr, amr = claims.get("acr"), claims.get("amr")
    request.session[MFA_BY_PROVIDER_SESSION_KEY] = {
        "provider": provider.pk,
        "acr": acr if isinstance(acr, str) else None,
        "amr": [value for value in amr if isinstance(value, str)] if isinstance(amr, list) else [],
        "at": time.time(),
    }


def mfa_by_provider(request: HttpRequest) -> bool:
    """The session's second factor was passed at the clinic's identity provider."""
    session = getattr(request, "session", None)
    return bool(session is not None and session.get(MFA_BY_PROVIDER_SESSION_KEY))


def forget_mfa_by_provider(request: HttpRequest) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        session.pop(MFA_BY_PROVIDER_SESSION_KEY, None)
