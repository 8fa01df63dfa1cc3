"""The test identity provider (tests/oidc_provider) in a second process, and signing in through it.

The provider is real: django-oauth-toolkit's OpenID Connect provider on a loopback port, with its own
database and an RSA key made for the run. Palisade talks to it over HTTP (discovery, token endpoint,
JWKS) exactly as to a clinic's provider; the test plays the browser: the Django test client towards
Palisade, a requests session towards the provider (whose sign-in form it fills in).
"""

import json
import os
import re
import selectors
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from accounts.sso.client_secrets import seal_client_secret
from accounts.sso.models import OidcProvider

ROOT = Path(__file__).resolve().parent.parent
TEST_SERVER = "http://testserver"
# Two clinics (tests/conftest.py's tenant and other_tenant), each with its own client at the provider.
CLIENTS = {
    slug: {
        "client_id": f"palisade-{slug}",
        "client_secret": f"secret-of-{slug}-{'x' * 24}",
        "redirect_uris": [f"{TEST_SERVER}/accounts/sso/{slug}/callback/"],
    }
    for slug in ("alpha", "bravo")
}
START_TIMEOUT_SECONDS = 60
IDP_PASSWORD = "idp password"


@dataclass
class IdentityProvider:
    base_url: str
    people_file: Path
    people: dict = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/o"

    def add_person(self, *, forge: dict | None = None, password: str = IDP_PASSWORD, **claims) -> str:
        """A person at the provider with these ID token claims; returns their (fresh) user name."""
        username = f"person-{uuid.uuid4().hex[:10]}"
        self.people[username] = {"password": password, "claims": claims, "forge": forge or {}}
        temporary = self.people_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.people))
        temporary.replace(self.people_file)
        return username

    def configure(self, tenant, **fields) -> OidcProvider:
        """The clinic's OidcProvider pointing at this provider, with the clinic's client."""
        client = CLIENTS[tenant.slug]
        values = {
            "issuer": self.issuer,
            "client_id": client["client_id"],
            "email_domains": f"{tenant.slug}.example",
            "role_mapping": {"radiology": "radiologist", "clinic-admins": "tenant_admin"},
            **fields,
        }
        provider = OidcProvider(tenant=tenant, **values)
        seal_client_secret(provider, client["client_secret"])
        provider.full_clean()
        provider.save()
        return provider


def _start(tmp: Path) -> tuple[subprocess.Popen, int]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp / "idp-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    env = {
        **os.environ,
        "OIDC_TEST_DB": str(tmp / "idp.sqlite3"),
        "OIDC_TEST_RSA_KEY_FILE": str(key_file),
        "OIDC_TEST_PEOPLE_FILE": str(tmp / "people.json"),
        "OIDC_TEST_CLIENTS": json.dumps(list(CLIENTS.values())),
    }
    # Its log goes to a file, not a pipe: a pipe nobody reads would block the provider once full.
    with (tmp / "idp.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_provider.serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    waiting = selectors.DefaultSelector()
    waiting.register(process.stdout, selectors.EVENT_READ)
    if not waiting.select(timeout=START_TIMEOUT_SECONDS):
        process.kill()
        raise RuntimeError("The test identity provider did not start in time.")
    line = process.stdout.readline()
    match = re.fullmatch(r"listening on (\d+)\n", line)
    if match is None:
        process.kill()
        log = (tmp / "idp.log").read_text()
        raise RuntimeError(f"The test identity provider failed to start: {line!r}\n{log}")
    return process, int(match.group(1))


@contextmanager
def running_identity_provider(tmp: Path) -> Iterator[IdentityProvider]:
    """The provider in its own process for the duration of the block (a session fixture's)."""
    (tmp / "people.json").write_text("{}")
    process, port = _start(tmp)
    try:
        yield IdentityProvider(base_url=f"http://127.0.0.1:{port}", people_file=tmp / "people.json")
    finally:
        process.terminate()
        process.wait(timeout=10)


def follow_at_provider(browser: requests.Session, url: str, username: str, password: str) -> str:
    """Play the browser at the provider: sign in on its form, follow its redirects, and return the URL
    it finally sends the browser to at Palisade."""
    for _ in range(10):
        if url.startswith(TEST_SERVER):
            return url
        response = browser.get(url, allow_redirects=False)
        if response.status_code == 200 and 'name="password"' in response.text:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)
            next_url = re.search(r'name="next" value="([^"]*)"', response.text).group(1).replace("&amp;", "&")
            response = browser.post(
                response.url,
                data={
                    "csrfmiddlewaretoken": token,
                    "username": username,
                    "password": password,
                    "next": next_url,
                },
                headers={"Referer": response.url},
                allow_redirects=False,
            )
        assert response.status_code in (301, 302), (response.status_code, response.text[:500])
        url = urljoin(response.url, response.headers["Location"])
    raise AssertionError("The provider never sent the browser back to Palisade.")


def sign_in_with_sso(
    client: Client, slug: str, username: str, password: str = IDP_PASSWORD, *, callback_slug: str = ""
):
    """The whole single sign-on: start at Palisade, sign in at the provider, come back (to another
    clinic's callback when `callback_slug` says so). Returns Palisade's answer at the callback."""
    start = client.get(f"/accounts/sso/{slug}/")
    assert start.status_code == 302, start.status_code
    back = urlsplit(follow_at_provider(requests.Session(), start["Location"], username, password))
    path = f"/accounts/sso/{callback_slug}/callback/" if callback_slug else back.path
    return client.get(f"{path}?{back.query}")
