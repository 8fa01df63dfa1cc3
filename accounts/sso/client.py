"""Talking to a clinic's identity provider: discovery, the authorization request, the code exchange and
the ID token check.

The protocol is authlib's Django client (state, nonce and the PKCE verifier kept in the session; the code
exchanged at the token endpoint; the ID token verified against the provider's JWKS, with its nonce,
expiry and authorized party). mozilla-django-oidc was the other candidate: it reads one provider from
settings, so per-clinic providers would have meant overriding its settings lookup in both its views and
its backend. Here one client is built per request from the clinic's OidcProvider row, which also picks
up changes made in the admin at once.

What authlib leaves open is pinned here: the discovery document must name the configured issuer
(OpenID Connect Discovery 1.0, 4.3); ID tokens are RS256 only (never "none", never HS256 keyed with the
client secret); `iss` must be the configured issuer and `aud` must contain our client ID (Core 3.1.3.7,
which authlib's azp check alone does not enforce).
"""

from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from cryptography.exceptions import InvalidTag
from django.http import HttpRequest, HttpResponseRedirect
from joserfc.errors import JoseError

from accounts.sso.client_secrets import open_client_secret
from accounts.sso.models import OidcProvider
from imaging.crypto.providers import KeyManagementError

ID_TOKEN_ALGORITHMS = ["RS256"]
HTTP_TIMEOUT_SECONDS = 10
# Clock skew tolerated on exp, iat and nbf, in seconds.
CLOCK_LEEWAY_SECONDS = 60
_REQUIRED_METADATA = ("authorization_endpoint", "token_endpoint", "jwks_uri")


class ProviderError(Exception):
    """The provider could not be used or its answer was refused. `reason` is a short code for the audit
    trail; the message says why, for the operator (never a token or a claim value)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def discovery_url(issuer: str) -> str:
    # Discovery 1.0, 4: a terminating "/" of the issuer is removed before appending the well-known path.
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def discover(provider: OidcProvider) -> dict[str, Any]:
    """The provider's metadata, fetched now from its issuer's discovery document, and checked."""
    try:
        response = requests.get(
            discovery_url(provider.issuer), timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False
        )
        response.raise_for_status()
        metadata = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderError(
            "discovery_failed", f"Could not read {discovery_url(provider.issuer)}: {type(error).__name__}."
        ) from None
    if not isinstance(metadata, dict) or metadata.get("issuer") != provider.issuer:
        raise ProviderError(
            "issuer_mismatch", "The provider's discovery document names another issuer than configured."
        )
    missing = [key for key in _REQUIRED_METADATA if not metadata.get(key)]
    if missing:
        raise ProviderError("discovery_incomplete", f"The discovery document lacks {', '.join(missing)}.")
    if "RS256" not in metadata.get("id_token_signing_alg_values_supported", []):
        raise ProviderError("unsupported_algorithm", "The provider does not sign ID tokens with RS256.")
    # authlib accepts whatever algorithms the metadata lists; only RS256 is accepted here.
    metadata["id_token_signing_alg_values_supported"] = ID_TOKEN_ALGORITHMS
    # Keys are always fetched from jwks_uri, never taken inline from the discovery document.
    metadata.pop("jwks", None)
    return metadata


def _client(provider: OidcProvider, metadata: dict[str, Any]) -> DjangoOAuth2App:
    try:
        secret = open_client_secret(provider)
    except (KeyManagementError, InvalidTag, ValueError):
        # Sealed under another master key, or altered: the operator enters the secret again.
        raise ProviderError(
            "client_secret_unreadable", "The stored client secret cannot be opened."
        ) from None
    name = f"palisade-sso-{provider.pk}"
    return DjangoOAuth2App(
        # The name keys the state kept in the session: a flow started for one clinic's provider cannot
        # be finished at another clinic's callback.
        DjangoIntegration(name),
        name=name,
        client_id=provider.client_id,
        client_secret=secret or None,
        client_kwargs={
            "scope": " ".join(provider.scope_list),
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic" if secret else "none",
            "default_timeout": HTTP_TIMEOUT_SECONDS,
        },
        **metadata,
    )


def authorization_redirect(
    request: HttpRequest, provider: OidcProvider, redirect_uri: str
) -> HttpResponseRedirect:
    """The redirect to the provider's authorization endpoint (code flow with PKCE S256, state, nonce)."""
    extra = {}
    if provider.mfa_delegated and provider.mfa_acr_values.split():
        # Core 3.1.2.1: a voluntary request; the answer's acr/amr is what counts.
        extra["acr_values"] = provider.mfa_acr_values
    return _client(provider, discover(provider)).authorize_redirect(request, redirect_uri, **extra)


def verified_id_token_claims(request: HttpRequest, provider: OidcProvider) -> dict[str, Any]:
    """At the callback: check the state, exchange the code, and return the verified ID token's claims."""
    client = _client(provider, discover(provider))
    try:
        token = client.authorize_access_token(
            request,
            claims_options={
                "iss": {"essential": True, "value": provider.issuer},
                "aud": {"essential": True, "value": provider.client_id},
            },
            leeway=CLOCK_LEEWAY_SECONDS,
        )
    except JoseError as error:
        raise ProviderError("invalid_id_token", f"The ID token was refused: {error.error}.") from None
    except AuthlibBaseError as error:
        raise ProviderError(
            "state_mismatch" if error.error == "mismatching_state" else "authorization_failed",
            f"The provider's answer was refused: {error.error}.",
        ) from None
    except requests.RequestException as error:
        raise ProviderError(
            "provider_unreachable", f"The token request failed: {type(error).__name__}."
        ) from None
    claims = token.get("userinfo")
    if not claims:
        raise ProviderError("no_id_token", "The provider answered without an ID token.")
    return dict(claims)
