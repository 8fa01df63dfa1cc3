"""Syslog over TLS to the operator's audit record repository, as IHE ATNA sends DICOM audit
messages (ITI-20): RFC 5424 messages, framed as RFC 5425 says (octet counting), over TLS.

RFC 5425 has no acknowledgement: a message is delivered once it is written whole to a TLS
connection that then closes cleanly. That is what `send` waits for before it returns.
"""

import contextlib
import os
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

APP_NAME = "palisade"
# The MSGID IHE ATNA gives a DICOM (PS3.15 A.5) audit message.
MSG_ID = "DICOM+RFC3881"
# RFC 5424 6.2.1: facility 10 (security/authorization), severity 5 (notice), as IHE ATNA uses.
PRIORITY = 10 * 8 + 5
# RFC 5424 6.4: a UTF-8 MSG starts with the byte order mark.
_BOM = b"\xef\xbb\xbf"
# RFC 5425 4.3.1 gives 6514 to syslog over TLS.
DEFAULT_PORT = 6514


@dataclass(frozen=True)
class Collector:
    host: str
    port: int = DEFAULT_PORT
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    timeout: float = 10.0

    def tls_context(self) -> ssl.SSLContext:
        # The collector's certificate is verified against the configured CA (or the system's) and
        # its name against `host`; IHE ATNA's mutual authentication adds our own certificate.
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.client_cert:
            context.load_cert_chain(self.client_cert, self.client_key or None)
        return context


def configured_collector() -> Collector | None:
    """The collector named by the settings (PALISADE_AUDIT_SYSLOG_*), or None when there is none."""
    host = settings.PALISADE_AUDIT_SYSLOG_HOST
    if not host:
        return None
    return Collector(
        host=host,
        port=settings.PALISADE_AUDIT_SYSLOG_PORT,
        ca_file=settings.PALISADE_AUDIT_SYSLOG_CA_FILE,
        client_cert=settings.PALISADE_AUDIT_SYSLOG_CLIENT_CERT,
        client_key=settings.PALISADE_AUDIT_SYSLOG_CLIENT_KEY,
        timeout=settings.PALISADE_AUDIT_SYSLOG_TIMEOUT,
    )


def _header_field(value: str, limit: int) -> str:
    # RFC 5424 6: header fields are printable US-ASCII without spaces, or "-" when unknown.
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return cleaned or "-"


def syslog_message(payload: bytes, timestamp: datetime, *, hostname: str | None = None) -> bytes:
    """One RFC 5424 message: header, no structured data, and `payload` (UTF-8) as MSG."""
    stamp = timestamp.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    header = " ".join(
        [
            f"<{PRIORITY}>1",
            stamp,
            _header_field(hostname or socket.gethostname(), 255),
            APP_NAME,
            _header_field(str(os.getpid()), 128),
            MSG_ID,
            "-",
        ]
    )
    return header.encode("ascii") + b" " + _BOM + payload


def frame(message: bytes) -> bytes:
    """RFC 5425 4.3: octet counting, MSG-LEN SP SYSLOG-MSG."""
    return str(len(message)).encode("ascii") + b" " + message


def send(collector: Collector, messages: Iterable[bytes]) -> int:
    """Write `messages` (RFC 5424, unframed) over one TLS connection and close it. Raises OSError
    (ssl.SSLError included) when the collector cannot be reached or the connection breaks."""
    sent = 0
    context = collector.tls_context()
    address = (collector.host, collector.port)
    with (
        socket.create_connection(address, timeout=collector.timeout) as raw,
        context.wrap_socket(raw, server_hostname=collector.host) as tls,
    ):
        for message in messages:
            tls.sendall(frame(message))
            sent += 1
        _close(tls)
    return sent


def _close(tls: ssl.SSLSocket) -> None:
    """RFC 5425 4.4: end with a TLS close_notify, and wait a moment for the collector's. Data a
    collector that died mid-batch never read comes back here as a reset, before the caller counts
    the batch as sent. A collector that closes without its own close_notify, or keeps the connection
    open, has taken everything: TCP delivered it before the shutdown."""
    tls.settimeout(min(tls.gettimeout() or _SHUTDOWN_WAIT, _SHUTDOWN_WAIT))
    with contextlib.suppress(ssl.SSLEOFError, ssl.SSLZeroReturnError, TimeoutError):
        tls.unwrap()


_SHUTDOWN_WAIT = 2.0
