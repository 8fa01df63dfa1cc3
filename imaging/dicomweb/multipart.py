"""Reading a multipart/related request body (RFC 2387; PS3.18 8.6.1.2, 10.5.1) into one file per part.

The byte-level parsing is the `multipart` package's PushMultipartParser: maintained, sans-I/O, streaming,
with bounded header lines and header counts. It is written for multipart/form-data and so insists on a
Content-Disposition header, which multipart/related parts do not carry; `_RelatedParser` replaces that one
check, through the method the library documents as the place to support other multipart types.

Every part is written to its own file before any is stored, so that a body that turns out to be broken,
too large or of too many parts is refused whole (4xx) and nothing of it is kept.
"""

from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path
from typing import BinaryIO

from multipart import MultipartError, MultipartSegment, PushMultipartParser

from imaging.dicomweb.limits import StowLimits

DICOM_MEDIA_TYPE = "application/dicom"
_READ_SIZE = 256 * 1024
# RFC 2046 5.1.1: a boundary is 1 to 70 characters.
_MAX_BOUNDARY_LENGTH = 70
# Content-Type, Content-ID, Content-Location, Content-Length, Content-Description and a few more.
_MAX_PART_HEADERS = 16


class RequestRefused(Exception):
    """The request as a whole is refused; nothing of it was stored."""

    status = 400


class UnsupportedMediaType(RequestRefused):
    status = 415


class BodyTooLarge(RequestRefused):
    status = 413


@dataclass(frozen=True)
class BodyPart:
    number: int  # 1-based position in the body, for messages
    content_type: str | None  # lower-cased, without parameters; None when the part names none
    path: Path


def related_boundary(content_type: str) -> str:
    """The boundary of a `multipart/related; type="application/dicom"` request, quoted or not."""
    # The standard library's header parser, not the multipart package's: PS3.18's own examples write
    # type=application/dicom unquoted, which a strict RFC 2045 token parser cuts at the slash.
    header = Message()
    header["Content-Type"] = content_type
    if header.get_content_type() != "multipart/related":
        raise UnsupportedMediaType("STOW-RS takes multipart/related bodies.")
    # PS3.18 10.5.1.2: the type parameter names the parts' media type. Only binary DICOM instances are
    # taken for now; the metadata-and-bulk-data forms (application/dicom+json, +xml) are not.
    root_type = collapse_rfc2231_value(header.get_param("type", DICOM_MEDIA_TYPE)).strip().lower()
    if root_type != DICOM_MEDIA_TYPE:
        raise UnsupportedMediaType(f"Only type={DICOM_MEDIA_TYPE} parts are supported.")
    boundary = header.get_boundary() or ""
    if not boundary or len(boundary) > _MAX_BOUNDARY_LENGTH or not boundary.isascii():
        raise RequestRefused("The multipart boundary is missing or invalid.")
    return boundary


class _RelatedParser(PushMultipartParser):
    def _create_segment(self, headerlist: list[tuple[str, str]]) -> MultipartSegment:
        # multipart/related parts have no Content-Disposition; accept any part.
        return MultipartSegment(headerlist)


def spool_parts(
    read: Callable[[int], bytes], boundary: str, workdir: Path, limits: StowLimits
) -> list[BodyPart]:
    """Read the body through `read` and write each part to a file in `workdir`; return them in order."""
    writer = _PartWriter(workdir, limits.max_parts)
    received = 0
    try:
        with _RelatedParser(boundary, max_header_count=_MAX_PART_HEADERS) as parser:
            while not parser.closed:
                chunk = read(_READ_SIZE)
                received += len(chunk)
                if received > limits.max_bytes:
                    raise BodyTooLarge(f"The body is larger than the {limits.max_bytes} bytes allowed.")
                for event in parser.parse(chunk):
                    writer.handle(event)
    except MultipartError as exc:
        # The library's first argument names the framing fault ("Unexpected end of multipart stream");
        # later arguments can carry bytes of the body, which stay out of the answer.
        fault = exc.args[0] if exc.args and isinstance(exc.args[0], str) else type(exc).__name__
        raise RequestRefused(f"The multipart body cannot be read: {fault}.") from None
    finally:
        writer.close()
    if not writer.parts:
        raise RequestRefused("The body carries no instance.")
    return writer.parts


class _PartWriter:
    """Turns the parser's events (a segment, its payload chunks, then None) into one file per part."""

    def __init__(self, workdir: Path, max_parts: int) -> None:
        self.parts: list[BodyPart] = []
        self._workdir = workdir
        self._max_parts = max_parts
        self._sink: BinaryIO | None = None

    def handle(self, event: MultipartSegment | bytes | bytearray | None) -> None:
        if isinstance(event, MultipartSegment):
            if len(self.parts) >= self._max_parts:
                raise BodyTooLarge(f"The body has more than the {self._max_parts} parts allowed.")
            number = len(self.parts) + 1
            part = BodyPart(number, event.content_type, self._workdir / f"part-{number}")
            self.parts.append(part)
            self._sink = part.path.open("xb")
        elif event is None:
            self.close()
        else:
            self._sink.write(event)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None
