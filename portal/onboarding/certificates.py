"""Reading the TLS client certificate a clinic uploads for a DICOM peer.

What the DIMSE listener checks is the subject of the certificate the TLS handshake verified, compared as
an x509.Name with RemoteAE.tls_subject parsed from its RFC 4514 spelling (imaging.dimse.associations).
So the subject is stored as cryptography's `Name.rfc4514_string()`, and a certificate whose subject does
not survive that round trip is refused here rather than silently never matching.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ValidationError
from django.utils import timezone

from imaging.dimse.models import parse_tls_subject

# A certificate is a few kilobytes; anything far larger is not one.
MAX_PEM_BYTES = 64 * 1024
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class ClientCertificate:
    pem: str
    subject: str
    fingerprint_sha256: str
    not_after: datetime


def read_client_certificate(data: bytes, *, now: datetime | None = None) -> ClientCertificate:
    """The one certificate in PEM `data`, or ValidationError saying what is wrong with it."""
    if len(data) > MAX_PEM_BYTES:
        raise ValidationError("This file is too large to be a certificate (at most 64 KB).")
    if b"PRIVATE KEY-----" in data:
        # Whoever uploaded it has exposed the key: say so, and keep nothing of it.
        raise ValidationError(
            "This file contains a private key. Upload only the peer's certificate, never its key; the key "
            "should be considered exposed and the certificate reissued."
        )
    if _PEM_CERTIFICATE not in data:
        raise ValidationError(
            "This is not a PEM certificate: expected a file beginning with -----BEGIN CERTIFICATE-----."
        )
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ValidationError("This PEM certificate could not be read: the file is damaged.") from None
    if len(certificates) != 1:
        raise ValidationError("Upload the peer's own certificate alone, not a chain of several.")
    certificate = certificates[0]
    now = now or timezone.now()
    if certificate.not_valid_after_utc <= now:
        raise ValidationError(
            f"This certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}: ask for a current one."
        )
    if certificate.not_valid_before_utc > now:
        raise ValidationError(
            f"This certificate is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC."
        )
    subject = certificate.subject.rfc4514_string()
    if not subject:
        raise ValidationError("This certificate has an empty subject: it cannot identify a peer.")
    try:
        round_trip = parse_tls_subject(subject)
    except ValidationError:
        round_trip = None
    if round_trip != certificate.subject:
        raise ValidationError(
            "This certificate's subject cannot be matched reliably (unusual attribute types): ask for a "
            "certificate with a plain subject such as CN=ct-1,O=Alpha Imaging."
        )
    return ClientCertificate(
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        subject=subject,
        fingerprint_sha256=hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
        not_after=certificate.not_valid_after_utc,
    )


def colon_fingerprint(hex_digest: str) -> str:
    """AB:CD:… as browsers and `openssl x509 -fingerprint` show it."""
    return ":".join(hex_digest[i : i + 2] for i in range(0, len(hex_digest), 2)).upper()
