"""WADO-RS: Retrieve Study, Series, Instance, Metadata, Frames and Bulkdata (PS3.18 10.4).

Instances go as multipart/related; type="application/dicom" (one part per instance, also for a single
instance: PS3.18 10.4.1.1.1), streamed from decryption one instance at a time. The transfer syntax of
each instance follows imaging.dicomweb.wado_transcode; instances that cannot be sent in an accepted
syntax are left out, with 206 Partial Content when some remain and 406 when none does (PS3.18 10.4.3).
"""

import json
import logging
from collections.abc import Iterator

from django.http import HttpResponse
from django.urls import reverse
from rest_framework.exceptions import NotAcceptable, NotFound
from rest_framework.request import Request

from imaging.dicomweb.responses import DICOM_JSON
from imaging.dicomweb.stow import StowStudyView
from imaging.dicomweb.wado_accept import (
    accepts_octet_stream,
    dicom_syntaxes,
    frame_representation,
)
from imaging.dicomweb.wado_frames import (
    FramesUnavailable,
    check_frame_numbers,
    decoded_frame,
    parse_frame_numbers,
    pixel_layout,
    stored_frame,
)
from imaging.dicomweb.wado_metadata import (
    MetadataUnavailable,
    bulk_value_range,
    instance_metadata,
)
from imaging.dicomweb.wado_resources import Target, WadoView
from imaging.dicomweb.wado_stream import (
    Part,
    multipart_response,
    stored_chunks,
    streaming_response,
)
from imaging.dicomweb.wado_transcode import (
    TranscodingFailed,
    decodable,
    syntax_to_send,
    to_explicit_little_endian,
)
from imaging.models import StoredObject
from imaging.objects import RequestKeys, open_plaintext

log = logging.getLogger(__name__)
_READ_SIZE = 1024 * 1024


def _level(uids: dict) -> str:
    return "instance" if "instance_uid" in uids else "series" if "series_uid" in uids else "study"


def _uids(kwargs: dict) -> dict:
    return {key: value for key, value in kwargs.items() if key.endswith("_uid")}


def instance_url(request: Request, stored: StoredObject) -> str:
    instance = stored.instance
    return request.build_absolute_uri(
        reverse(
            "dicomweb-wado-instance",
            args=[
                request.tenant.slug,
                instance.series.study.study_instance_uid,
                instance.series.series_instance_uid,
                instance.sop_instance_uid,
            ],
        )
    )


class RetrieveView(WadoView):
    """GET studies/{study}[/series/{series}[/instances/{instance}]]."""

    def get(self, request: Request, tenant_slug: str, **kwargs: str) -> HttpResponse:
        uids = _uids(kwargs)
        target = self.target(request, _level(uids), **uids)
        accepted = dicom_syntaxes(request.META.get("HTTP_ACCEPT", ""))
        stored = target.stored_objects()
        if not stored:
            raise NotFound
        plan = [(item, syntax_to_send(item.transfer_syntax_uid, accepted)) for item in stored]
        sendable = [(item, syntax) for item, syntax in plan if syntax is not None]
        if not sendable:
            raise NotAcceptable("No instance can be sent in an accepted transfer syntax.")
        self.audit_retrieve(
            request, target, "retrieve", [item.instance.sop_instance_uid for item, _ in sendable]
        )
        keys = RequestKeys()
        keyed = [(item, syntax, keys.data_key(item)) for item, syntax in sendable]
        if all(syntax == item.transfer_syntax_uid for item, syntax, _ in keyed):
            # Nothing to transcode: every part and its length are known before the first byte.
            parts = list(_instance_parts(keyed))
        else:
            parts = _instance_parts(keyed)
        response = multipart_response(request, parts, "application/dicom")
        if len(sendable) < len(plan):
            response.status_code = 206
        return response


class StudyView(RetrieveView, StowStudyView):
    """studies/{study}: GET retrieves (WADO-RS 10.4), POST stores into the study (STOW-RS 10.5)."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        # Set per request, before DicomwebView checks it: any member may ask, only storers store.
        is_read = request.method in ("GET", "HEAD", "OPTIONS")
        self.required_action = RetrieveView.required_action if is_read else StowStudyView.required_action
        super().initial(request, *args, **kwargs)


def _instance_parts(sendable: list[tuple[StoredObject, str, bytes]]) -> Iterator[Part]:
    """One part per object, (object, syntax to send, data key); nothing here reads the database."""
    for stored, syntax, data_key in sendable:
        content_type = f"application/dicom; transfer-syntax={syntax}"
        if syntax == stored.transfer_syntax_uid:
            # Decrypted lazily, segment by segment, as the body is sent.
            yield Part(content_type, stored_chunks(stored, data_key), stored.plaintext_size)
            continue
        try:
            data = _transcoded(stored, data_key)
        except TranscodingFailed as failure:
            # The status is sent already; the part is left out (PS3.18 10.4.3: partial content).
            log.warning("WADO-RS left out stored object %s: %s", stored.pk, failure)
            continue
        yield Part(content_type, [data], len(data))


def _transcoded(stored: StoredObject, data_key: bytes) -> bytes:
    with open_plaintext(stored, data_key=data_key) as plaintext:
        return to_explicit_little_endian(plaintext, stored.plaintext_size)


class MetadataView(WadoView):
    """GET .../metadata: a JSON array of the instances' DICOM JSON (PS3.18 10.4.1.1.2)."""

    def get(self, request: Request, tenant_slug: str, **kwargs: str) -> HttpResponse:
        uids = _uids(kwargs)
        target = self.target(request, _level(uids), **uids)
        stored = target.stored_objects()
        self.audit_retrieve(request, target, "metadata", [item.instance.sop_instance_uid for item in stored])
        keys = RequestKeys()
        keyed = [(item, keys.data_key(item), instance_url(request, item) + "/bulkdata") for item in stored]
        response = streaming_response(request, _metadata_array(keyed))
        response["Content-Type"] = DICOM_JSON
        return response


def _metadata_array(keyed: list[tuple[StoredObject, bytes, str]]) -> Iterator[bytes]:
    separator = b"["
    for item, data_key, url in keyed:
        try:
            metadata = _metadata_of(item, data_key, url)
        except MetadataUnavailable as failure:
            log.warning("WADO-RS metadata left out stored object %s: %s", item.pk, failure)
            continue
        yield separator + json.dumps(metadata).encode()
        separator = b","
    yield b"[]" if separator == b"[" else b"]"


def _metadata_of(stored: StoredObject, data_key: bytes, bulkdata_url: str) -> dict:
    with open_plaintext(stored, data_key=data_key) as plaintext:
        return instance_metadata(plaintext, bulkdata_url)


class FramesView(WadoView):
    """GET .../instances/{instance}/frames/{frames} (PS3.18 10.4.1.1.4)."""

    def get(self, request: Request, tenant_slug: str, frames: str, **kwargs: str) -> HttpResponse:
        numbers = parse_frame_numbers(frames)
        target = self.target(request, "instance", **_uids(kwargs))
        return frames_response(self, request, target, numbers, "frames")


def frames_response(
    view: WadoView, request: Request, target: Target, numbers: list[int] | None, transaction: str
) -> HttpResponse:
    """The frames `numbers` (every frame when None) of the target's one instance, as a multipart body."""
    (stored,) = target.stored_objects() or [None]
    if stored is None:
        raise NotFound
    syntax = stored.transfer_syntax_uid
    representation = frame_representation(
        request.META.get("HTTP_ACCEPT", ""), syntax, decodable=decodable(syntax)
    )
    data_key = RequestKeys().data_key(stored)
    try:
        with open_plaintext(stored, data_key=data_key) as plaintext:
            layout = pixel_layout(plaintext)
            numbers = numbers or list(range(1, layout.frames + 1))
            check_frame_numbers(layout, numbers)
            # The first frame is read before answering, so that a frame that cannot be read or decoded
            # answers 406 rather than an empty body.
            read = decoded_frame if representation.decode else stored_frame
            first = read(plaintext, layout, numbers[0])
    except FramesUnavailable as failure:
        raise NotAcceptable(str(failure)) from None
    view.audit_retrieve(request, target, transaction, [target.instances[0].sop_instance_uid])
    part_type = representation.content_type.split(";")[0]
    first_part = Part(representation.content_type, [first], len(first))
    if len(numbers) == 1:
        # In memory already: answered whole, with no stream to step through.
        return multipart_response(request, [first_part], part_type)

    def parts() -> Iterator[Part]:
        yield first_part
        with open_plaintext(stored, data_key=data_key) as plaintext:
            for number in numbers[1:]:
                data = read(plaintext, layout, number)
                yield Part(representation.content_type, [data], len(data))

    return multipart_response(request, parts(), part_type)


class BulkdataView(WadoView):
    """GET .../instances/{instance}/bulkdata/{tag}: the BulkDataURI target of /metadata (PS3.18
    10.4.1.1.5). Pixel data answers as its frames; any other top-level value as its bytes."""

    def get(self, request: Request, tenant_slug: str, tag: str, **kwargs: str) -> HttpResponse:
        target = self.target(request, "instance", **_uids(kwargs))
        try:
            number = int(tag, 16)
        except ValueError:
            raise NotFound from None
        if number == 0x7FE00010:
            return frames_response(self, request, target, None, "bulkdata")
        if not accepts_octet_stream(request.META.get("HTTP_ACCEPT", "")):
            raise NotAcceptable("Bulk data is offered as application/octet-stream.")
        (stored,) = target.stored_objects()
        data_key = RequestKeys().data_key(stored)
        try:
            with open_plaintext(stored, data_key=data_key) as plaintext:
                offset, length = bulk_value_range(plaintext, number)
        except (KeyError, MetadataUnavailable):
            raise NotFound from None
        self.audit_retrieve(request, target, "bulkdata", [target.instances[0].sop_instance_uid])
        part = Part("application/octet-stream", _value_chunks(stored, data_key, offset, length), length)
        return multipart_response(request, [part], "application/octet-stream")


def _value_chunks(stored: StoredObject, data_key: bytes, offset: int, length: int) -> Iterator[bytes]:
    with open_plaintext(stored, data_key=data_key) as plaintext:
        plaintext.seek(offset)
        remaining = length
        while remaining:
            chunk = plaintext.read(min(_READ_SIZE, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
