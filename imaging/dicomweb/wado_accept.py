"""Content negotiation of WADO-RS (PS3.18 8.7): which representation of an instance, a frame or a
rendered image the user agent accepts, read from the Accept header field.

Only the Accept header is read: the `accept` query parameter of PS3.18 8.3.3.1 is for URI-style
requests, which Palisade does not serve.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rest_framework.exceptions import NotAcceptable

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
ANY_SYNTAX = "*"

# PS3.18 Table 8.7.3-4 (via Table 8.7.4-1): the media type of a compressed frame in its stored form.
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
OCTET_STREAM = "application/octet-stream"

_ITEM = re.compile(r'(?:[^,"]|"[^"]*")+')
_PARAM = re.compile(r'\s*;\s*([^=;\s]+)\s*=\s*("[^"]*"|[^;]*)')


@dataclass(frozen=True)
class MediaRange:
    media_type: str
    params: dict[str, str]
    q: float

    def matches(self, media_type: str) -> bool:
        kind, _, sub = self.media_type.partition("/")
        want_kind, _, want_sub = media_type.partition("/")
        return kind in ("*", want_kind) and sub in ("*", want_sub)


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header (RFC 9110 12.5.1), highest quality first; a missing or empty
    header accepts anything."""
    ranges = []
    for item in _ITEM.findall(header or ""):
        media_type, _, rest = item.strip().partition(";")
        params = {
            name.lower(): value.strip().strip('"')
            for name, value in _PARAM.findall(";" + rest if rest else "")
        }
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        if media_type.strip() and q > 0:
            ranges.append(MediaRange(media_type.strip().lower(), params, q))
    if not ranges:
        ranges = [MediaRange("*/*", {}, 1.0)]
    return sorted(ranges, key=lambda r: -r.q)


def _related_parts(ranges: Iterable[MediaRange]) -> list[MediaRange]:
    """The part media types a multipart/related answer may carry: the `type` parameter of each
    multipart/related range (PS3.18 8.7.3.5.1), or anything for `*/*` and `multipart/*`."""
    parts = []
    for accepted in ranges:
        if accepted.media_type == "multipart/related":
            part_type = accepted.params.get("type", "*/*").lower()
            parts.append(MediaRange(part_type, accepted.params, accepted.q))
        elif accepted.media_type in ("*/*", "multipart/*"):
            parts.append(MediaRange("*/*", {}, accepted.q))
    return parts


@dataclass(frozen=True)
class DicomSyntaxes:
    """The transfer syntaxes acceptable for application/dicom parts. `default` is true when some range
    named no transfer-syntax: then the Default Transfer Syntax applies (PS3.18 8.7.3.4)."""

    explicit: frozenset[str]
    any: bool
    default: bool

    def accepts(self, transfer_syntax: str) -> bool:
        return self.any or transfer_syntax in self.explicit

    @property
    def wants_explicit_little_endian(self) -> bool:
        return self.default or EXPLICIT_VR_LITTLE_ENDIAN in self.explicit


def dicom_syntaxes(accept_header: str) -> DicomSyntaxes:
    """For the Retrieve Study/Series/Instance transactions (multipart/related; type=application/dicom).
    406 when no range allows application/dicom parts."""
    explicit, any_syntax, default = set(), False, False
    for part in _related_parts(parse_accept(accept_header)):
        if not part.matches("application/dicom"):
            continue
        syntax = part.params.get("transfer-syntax")
        if syntax is None:
            default = True
        elif syntax == ANY_SYNTAX:
            any_syntax = True
        else:
            explicit.add(syntax)
    if not (explicit or any_syntax or default):
        raise NotAcceptable('Only multipart/related; type="application/dicom" is offered for this resource.')
    return DicomSyntaxes(frozenset(explicit), any_syntax, default)


@dataclass(frozen=True)
class FrameRepresentation:
    """How to send frames: the part Content-Type, and whether frames are decoded to native pixels."""

    content_type: str
    decode: bool


def frame_representation(accept_header: str, stored_syntax: str, *, decodable: bool) -> FrameRepresentation:
    """For Retrieve Frames and Pixel Data bulk data (PS3.18 8.7.3.3.2 and 8.7.4): compressed frames go
    as stored under their image/* type, or as application/octet-stream when `transfer-syntax=*`;
    native frames, and decoded ones when the default syntax is asked for, as application/octet-stream
    in Explicit VR Little Endian. The highest quality range that can be met wins; 406 when none can."""
    stored_type = FRAME_MEDIA_TYPES.get(stored_syntax)
    native_type = f"{OCTET_STREAM}; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"
    # Native frames are always sent as little endian pixels (imaging.dicomweb.wado_frames).
    as_stored = f"{stored_type}; transfer-syntax={stored_syntax}" if stored_type else native_type
    native = FrameRepresentation(native_type, decode=True)
    for part in _related_parts(parse_accept(accept_header)):
        syntax = part.params.get("transfer-syntax")
        if part.media_type == "*/*" and syntax in (None, ANY_SYNTAX):
            return FrameRepresentation(as_stored, decode=False)
        if stored_type and part.matches(stored_type) and syntax in (None, ANY_SYNTAX, stored_syntax):
            return FrameRepresentation(as_stored, decode=False)
        if not part.matches(OCTET_STREAM):
            continue
        if stored_type is None and syntax in (None, ANY_SYNTAX, EXPLICIT_VR_LITTLE_ENDIAN):
            return FrameRepresentation(as_stored, decode=False)
        if stored_type and syntax == ANY_SYNTAX:
            return FrameRepresentation(f"{OCTET_STREAM}; transfer-syntax={stored_syntax}", decode=False)
        if stored_type and decodable and syntax in (None, EXPLICIT_VR_LITTLE_ENDIAN):
            return native
    raise NotAcceptable("The frames cannot be sent in any of the accepted media types.")


RENDERED_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}


def rendered_type(accept_header: str) -> str:
    """For /rendered and /thumbnail (PS3.18 8.3.5, 10.4.1.1.3): image/jpeg unless image/png is
    preferred; 406 for anything else."""
    for accepted in parse_accept(accept_header):
        for media_type in RENDERED_TYPES:
            if accepted.matches(media_type):
                return media_type
    raise NotAcceptable("Rendered images are offered as image/jpeg or image/png.")


def accepts_octet_stream(accept_header: str) -> bool:
    """For Retrieve Bulkdata (PS3.18 10.4.1.1.5) of values other than pixel data."""
    return any(part.matches(OCTET_STREAM) for part in _related_parts(parse_accept(accept_header)))
