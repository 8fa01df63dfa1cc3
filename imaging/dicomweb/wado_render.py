"""WADO-RS rendered resources and thumbnails (PS3.18 10.4.1.1.3 and 10.4.1.3), as image/jpeg (default)
or image/png, with the query parameters of PS3.18 8.3.5: `window`, `viewport` and `quality`.

An instance renders its first frame; a frame list renders each frame; a study or series renders each of
its instances that has an image, as multipart/related. A thumbnail is one small image of a
representative frame: the middle frame of the middle instance of the first series that has an image.
Instances without an image (reports, waveforms, documents) have no image representation: 406.
"""

import logging
from collections.abc import Iterator

from django.http import HttpResponse
from rest_framework.exceptions import NotAcceptable, NotFound, ParseError
from rest_framework.request import Request

from imaging.dicomweb.wado_accept import RENDERED_TYPES, rendered_type
from imaging.dicomweb.wado_frames import parse_frame_numbers
from imaging.dicomweb.wado_resources import WadoView
from imaging.dicomweb.wado_stream import Part, multipart_response
from imaging.models import StoredObject
from imaging.objects import RequestKeys, open_plaintext
from imaging.rendering import RenderingError, Viewport, Window, render_image

log = logging.getLogger(__name__)
MAX_VIEWPORT = 4096
THUMBNAIL_SIZE = 128
_WINDOW_FUNCTIONS = {"linear", "linear-exact", "sigmoid"}


def _numbers(text: str, kind: type, name: str) -> list:
    try:
        return [kind(item) for item in text.split(",")]
    except ValueError:
        raise ParseError(f"The {name} parameter is not a list of numbers.") from None


def parse_window(text: str | None) -> Window | None:
    """`window=center,width,function` (PS3.18 8.3.5.1.4)."""
    if text is None:
        return None
    values = text.split(",")
    name = values[2].strip().lower() if len(values) == 3 else "linear"
    if len(values) not in (2, 3) or name not in _WINDOW_FUNCTIONS:
        raise ParseError("window is center,width[,linear|linear-exact|sigmoid].")
    center, width = _numbers(",".join(values[:2]), float, "window")
    if not width > 0:
        raise ParseError("window's width is positive.")
    return Window(center, width, name)


def parse_viewport(text: str | None, default: int | None = None) -> Viewport | None:
    """`viewport=vw,vh[,sx,sy,sw,sh]` (PS3.18 8.3.5.1.3), within MAX_VIEWPORT pixels a side."""
    if text is None:
        return Viewport(default, default) if default else None
    values = _numbers(text, int, "viewport")
    if len(values) not in (2, 6) or not all(0 < value <= MAX_VIEWPORT for value in values[:2]):
        raise ParseError(f"viewport is vw,vh[,sx,sy,sw,sh], each side 1 to {MAX_VIEWPORT} pixels.")
    if len(values) == 6 and (values[2] < 0 or values[3] < 0 or 0 in values[4:]):
        raise ParseError("viewport's source region starts inside the image and is not empty.")
    return Viewport(values[0], values[1], tuple(values[2:]) if len(values) == 6 else None)


def parse_quality(text: str | None) -> int | None:
    """`quality` (PS3.18 8.3.5.1.5): 1 to 100, for lossy media types."""
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise ParseError("quality is a whole number from 1 to 100.")
    return int(text)


def _render(stored: StoredObject, data_key: bytes, frame: int | None, options: dict) -> bytes:
    with open_plaintext(stored, data_key=data_key) as plaintext:
        return render_image(plaintext, frame=frame, **options)


class RenderedView(WadoView):
    """GET .../rendered at study, series, instance and frame level."""

    def get(self, request: Request, tenant_slug: str, **kwargs: str) -> HttpResponse:
        uids = {key: value for key, value in kwargs.items() if key.endswith("_uid")}
        level = "instance" if "instance_uid" in uids else "series" if "series_uid" in uids else "study"
        target = self.target(request, level, **uids)
        media_type = rendered_type(request.META.get("HTTP_ACCEPT", ""))
        options = {
            "viewport": parse_viewport(request.GET.get("viewport")),
            "window": parse_window(request.GET.get("window")),
            "image_format": RENDERED_TYPES[media_type],
            "quality": parse_quality(request.GET.get("quality")),
        }
        stored = target.stored_objects()
        if not stored:
            raise NotFound
        uids_sent = [item.instance.sop_instance_uid for item in stored]
        keys = RequestKeys()
        if level == "instance":
            frames = [n - 1 for n in parse_frame_numbers(kwargs["frames"])] if "frames" in kwargs else [0]
            data_key = keys.data_key(stored[0])
            images = [_render_or_406(stored[0], data_key, frame, options) for frame in frames]
            self.audit_retrieve(request, target, "rendered", uids_sent)
            if len(images) == 1:
                return _image_response(images[0], media_type)
            parts = [Part(media_type, [image], len(image)) for image in images]
            return multipart_response(request, parts, media_type)
        self.audit_retrieve(request, target, "rendered", uids_sent)
        keyed = [(item, keys.data_key(item)) for item in stored]
        return multipart_response(request, _rendered_parts(keyed, options, media_type), media_type)


def _rendered_parts(
    keyed: list[tuple[StoredObject, bytes]], options: dict, media_type: str
) -> Iterator[Part]:
    """One image per object, rendered as the body is sent; nothing here reads the database."""
    for item, data_key in keyed:
        try:
            image = _render(item, data_key, 0, options)
        except RenderingError as failure:
            log.info("WADO-RS rendered left out stored object %s: %s", item.pk, failure)
            continue
        yield Part(media_type, [image], len(image))


def _render_or_406(stored: StoredObject, data_key: bytes, frame: int | None, options: dict) -> bytes:
    try:
        return _render(stored, data_key, frame, options)
    except RenderingError as failure:
        if "does not exist" in str(failure):
            raise NotFound(str(failure)) from None
        raise NotAcceptable(f"No image representation: {failure}") from None


def _image_response(image: bytes, media_type: str) -> HttpResponse:
    response = HttpResponse(image, content_type=media_type)
    response["Cache-Control"] = "no-store"
    return response


class ThumbnailView(WadoView):
    """GET .../thumbnail at study, series and instance level: one image, 128 pixels a side by default."""

    def get(self, request: Request, tenant_slug: str, **kwargs: str) -> HttpResponse:
        uids = {key: value for key, value in kwargs.items() if key.endswith("_uid")}
        level = "instance" if "instance_uid" in uids else "series" if "series_uid" in uids else "study"
        target = self.target(request, level, **uids)
        media_type = rendered_type(request.META.get("HTTP_ACCEPT", ""))
        options = {
            "viewport": parse_viewport(request.GET.get("viewport"), THUMBNAIL_SIZE),
            "window": parse_window(request.GET.get("window")),
            "image_format": RENDERED_TYPES[media_type],
            "quality": parse_quality(request.GET.get("quality")),
            "shrink_only": request.GET.get("viewport") is None,
        }
        keys = RequestKeys()
        for stored in _representatives(target.stored_objects()):
            try:
                image = _render(stored, keys.data_key(stored), None, options)
            except RenderingError:
                continue
            self.audit_retrieve(request, target, "thumbnail", [stored.instance.sop_instance_uid])
            return _image_response(image, media_type)
        raise NotAcceptable("Nothing in this resource has an image representation.")


def _representatives(stored: list[StoredObject]) -> Iterator[StoredObject]:
    """The middle instance of each series, in series order."""
    by_series: dict[int, list[StoredObject]] = {}
    for item in stored:
        by_series.setdefault(item.instance.series_id, []).append(item)
    for items in by_series.values():
        yield items[len(items) // 2]
