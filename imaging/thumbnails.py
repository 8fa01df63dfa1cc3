"""Series thumbnails: rendered by a worker after indexing, stored encrypted like every other object."""

import io
import os

from django.db import IntegrityError, transaction

from imaging.crypto.keys import KEY_BYTES
from imaging.crypto.object_keys import object_data_key, open_for_study, seal_for_study
from imaging.crypto.segments import PlaintextReader, decrypt_stream, encrypt_stream
from imaging.models import Series, SeriesThumbnail
from imaging.rendering import RenderingError, render_png
from imaging.storage import delete_object, durable_writer, open_object


def make_series_thumbnail(series: Series) -> SeriesThumbnail:
    """Render and store the series' thumbnail once; idempotent. Call inside the tenant's scope."""
    existing = SeriesThumbnail.objects.filter(series=series).first()
    if existing is not None:
        return existing
    instances = list(series.instances.order_by("instance_number", "id"))
    if not instances:
        raise ValueError(f"Series #{series.pk} has no instance yet.")
    stored = instances[len(instances) // 2].versions.select_related("instance__series__study").first()
    try:
        png = _render(stored)
    except RenderingError as failure:
        return _save(SeriesThumbnail(tenant_id=series.tenant_id, series=series, error=str(failure)[:200]))
    thumbnail = SeriesThumbnail(tenant_id=series.tenant_id, series=series, region=stored.region)
    thumbnail.storage_name = f"{series.tenant_id}/thumbnails/{thumbnail.pk.hex}"
    data_key = os.urandom(KEY_BYTES)
    with durable_writer(thumbnail.region, thumbnail.storage_name) as sink:
        encrypt_stream(
            data_key, io.BytesIO(png), sink, tenant_id=series.tenant_id, object_id=str(thumbnail.pk)
        )
    thumbnail.wrapped_key = seal_for_study(series.study, data_key, thumbnail.pk)
    return _save(thumbnail)


def thumbnail_png(thumbnail: SeriesThumbnail) -> bytes:
    data_key = open_for_study(thumbnail.series.study, bytes(thumbnail.wrapped_key), thumbnail.pk)
    with open_object(thumbnail.region, thumbnail.storage_name) as ciphertext:
        return b"".join(
            decrypt_stream(data_key, ciphertext, tenant_id=thumbnail.tenant_id, object_id=str(thumbnail.pk))
        )


def _render(stored) -> bytes:
    data_key = object_data_key(stored)
    with open_object(stored.region, stored.storage_name) as ciphertext:
        reader = PlaintextReader(data_key, ciphertext, tenant_id=stored.tenant_id, object_id=str(stored.pk))
        return render_png(reader)


def _save(thumbnail: SeriesThumbnail) -> SeriesThumbnail:
    try:
        with transaction.atomic():
            thumbnail.save(force_insert=True)
        return thumbnail
    except IntegrityError:
        # Another worker stored this series' thumbnail first: keep theirs, drop ours.
        if thumbnail.storage_name:
            delete_object(thumbnail.region, thumbnail.storage_name)
        return SeriesThumbnail.objects.get(series=thumbnail.series)
