"""DICOM over TLS for the listener (PS3.15 Annex B.9, the Non-Downgrading BCP 195 TLS Secure Transport
Connection Profile): TLS 1.2 or later, a server certificate, and, with a CA, client certificates.

Client certificates are optional at the TLS layer (CERT_OPTIONAL): a presented certificate must chain
to the CA or the handshake fails, but a peer without one still connects. Whether a certificate is
required, and with which subject, is decided per registered AE (RemoteAE.tls_subject) once the
association request names the AE (imaging.dimse.associations).
"""

import ssl
from pathlib import Path

from cryptography import x509


def server_context(cert: Path, key: Path, ca: Path | None = None) -> ssl.SSLContext:
    """Raises OSError or ssl.SSLError when a file is missing or unusable."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=cert, keyfile=key)
    if ca is not None:
        context.load_verify_locations(cafile=ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def verified_client_subject(sock: object) -> x509.Name | None:
    """The subject of the client certificate the handshake on `sock` verified, or None (plain TCP, no
    certificate, or no CA configured: with CERT_NONE a certificate is never even requested)."""
    if not isinstance(sock, ssl.SSLSocket):
        return None
    der = sock.getpeercert(binary_form=True)
    if not der or sock.context.verify_mode == ssl.CERT_NONE:
        return None
    return x509.load_der_x509_certificate(der).subject
