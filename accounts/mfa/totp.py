"""What an authenticator app needs to learn a TOTP secret: a QR code of the otpauth:// URI, and the
secret as text for typing in. The QR code is drawn here (segno, SVG), never by a web service: the secret
must not leave the server except to the user's own screen."""

from base64 import b32encode
from dataclasses import dataclass

import segno
from django_otp.plugins.otp_totp.models import TOTPDevice


@dataclass(frozen=True)
class Provisioning:
    qr_data_uri: str
    secret: str  # base32, in groups of four


def provisioning(device: TOTPDevice) -> Provisioning:
    secret = b32encode(device.bin_key).decode()
    return Provisioning(
        qr_data_uri=segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2),
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    )
