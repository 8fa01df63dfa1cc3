"""Resource limits of ingestion, so that no single upload can exhaust memory, disk or CPU."""

from dataclasses import dataclass

MiB = 1024**2
GiB = 1024**3


@dataclass(frozen=True)
class IngestLimits:
    # One DICOM object (the file as received).
    max_object_bytes: int = 2 * GiB
    # Rows x Columns x Samples per Pixel x Number of Frames x Bits Allocated / 8, before any decoding.
    max_pixel_bytes: int = 4 * GiB
    # Nesting of sequences (SQ) inside one object; real objects (SR trees included) stay well below.
    max_sequence_depth: int = 32
    # A Deflated Explicit VR Little Endian dataset once inflated: pydicom inflates it in memory.
    max_inflated_bytes: int = 256 * MiB
    # Entries in one ZIP's central directory (directories included).
    max_zip_entries: int = 20_000
    # Uncompressed bytes of all entries of one ZIP, counted while extracting.
    max_zip_bytes: int = 20 * GiB
    # Uncompressed / compressed size of one ZIP entry, checked once the entry is past ratio_floor_bytes.
    max_zip_ratio: int = 200
    # Entries smaller than this are never ratio bombs, and tiny or blank objects compress very well.
    ratio_floor_bytes: int = 8 * MiB

    @classmethod
    def from_settings(cls) -> "IngestLimits":
        """The limits configured in Django settings (portal/settings.py reads them from the environment)."""
        from django.conf import settings

        defaults = cls()
        return cls(
            max_object_bytes=getattr(settings, "PALISADE_MAX_OBJECT_BYTES", defaults.max_object_bytes),
            max_pixel_bytes=getattr(settings, "PALISADE_MAX_PIXEL_BYTES", defaults.max_pixel_bytes),
            max_sequence_depth=getattr(settings, "PALISADE_MAX_SEQUENCE_DEPTH", defaults.max_sequence_depth),
            max_inflated_bytes=getattr(settings, "PALISADE_MAX_INFLATED_BYTES", defaults.max_inflated_bytes),
            max_zip_entries=getattr(settings, "PALISADE_MAX_ZIP_ENTRIES", defaults.max_zip_entries),
            max_zip_bytes=getattr(settings, "PALISADE_MAX_ZIP_BYTES", defaults.max_zip_bytes),
            max_zip_ratio=getattr(settings, "PALISADE_MAX_ZIP_RATIO", defaults.max_zip_ratio),
        )
