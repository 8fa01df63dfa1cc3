"""Storage regions and the residency rule: a tenant's copies stay in its home jurisdiction."""

from django.conf import settings
from django.core.exceptions import ValidationError


def configured_regions() -> list[str]:
    return list(settings.PALISADE_STORAGE)


def default_region() -> str:
    return settings.PALISADE_REGION


def jurisdiction_of(region: str) -> str:
    try:
        return settings.PALISADE_STORAGE[region]["jurisdiction"]
    except KeyError:
        raise ValidationError(
            f"Unknown storage region {region!r}; configured: {', '.join(configured_regions())}."
        ) from None


def validate_residency(home_region: str, replica_regions: list[str]) -> None:
    """Raise ValidationError unless every replica region lies in the home region's jurisdiction."""
    home = jurisdiction_of(home_region)
    for region in replica_regions:
        if region == home_region:
            raise ValidationError(f"Replica region {region!r} is the home region.")
        if jurisdiction_of(region) != home:
            raise ValidationError(
                f"Replica region {region!r} lies in jurisdiction {jurisdiction_of(region)}, "
                f"outside the home jurisdiction {home}."
            )
