import base64
import json
import time

from jwcrypto import jwk, jwt
from oauth2_provider.oauth2_validators import OAuth2Validator

from tests.oidc_provider.backends import person

# Known to no one but this process: a token signed with it is a forgery.
_FORGER_KEY = jwk.JWK.generate(kty="RSA", size=2048)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class PeopleFileValidator(OAuth2Validator):
    # Every claim of the person goes into the ID token, whatever the scopes.
    oidc_claim_scope = None

    def get_additional_claims(self, request):
        return dict(person(request.user.username)["claims"])

    def finalize_id_token(self, id_token, token, token_handler, request):
        signed = super().finalize_id_token(id_token, token, token_handler, request)
        forge = person(request.user.username).get("forge")
        if not forge:
            return signed
        header_part, payload_part, signature_part = signed.split(".")
        header = json.loads(_b64decode(header_part))
        claims = json.loads(_b64decode(payload_part))
        claims.update(forge.get("claims", {}))
        if "expires_in" in forge:
            claims["iat"] = int(time.time()) - 7200
            claims["exp"] = int(time.time()) + forge["expires_in"]
        if forge.get("tamper"):
            # The provider's own signature over other claims.
            return f"{header_part}.{_b64encode(json.dumps(claims).encode())}.{signature_part}"
        key = _FORGER_KEY if forge.get("sign_with_other_key") else request.client.jwk_key
        # The forger claims the provider's key ID, as an attacker would.
        token = jwt.JWT(header=json.dumps(header), claims=json.dumps(claims))
        token.make_signed_token(key)
        return token.serialize()
