"""Where a clinic may be: countries, and the jurisdiction (the law its patients' data is under) of each.

A clinic's jurisdiction decides which storage regions may hold its data (portal.regions) and which
agreements it must sign (portal.agreements). Only countries whose jurisdiction has a configured region
are offered: Palisade cannot take a clinic whose data it has nowhere lawful to keep.
"""

from django.conf import settings

# ISO 3166-1 alpha-2 → jurisdiction. EU member states and the rest of the EEA (Iceland, Liechtenstein,
# Norway), where the GDPR applies; the United States, where HIPAA does.
COUNTRIES: dict[str, tuple[str, str]] = {
    "AT": ("Austria", "EU"),
    "BE": ("Belgium", "EU"),
    "BG": ("Bulgaria", "EU"),
    "HR": ("Croatia", "EU"),
    "CY": ("Cyprus", "EU"),
    "CZ": ("Czechia", "EU"),
    "DK": ("Denmark", "EU"),
    "EE": ("Estonia", "EU"),
    "FI": ("Finland", "EU"),
    "FR": ("France", "EU"),
    "DE": ("Germany", "EU"),
    "GR": ("Greece", "EU"),
    "HU": ("Hungary", "EU"),
    "IS": ("Iceland", "EU"),
    "IE": ("Ireland", "EU"),
    "IT": ("Italy", "EU"),
    "LV": ("Latvia", "EU"),
    "LI": ("Liechtenstein", "EU"),
    "LT": ("Lithuania", "EU"),
    "LU": ("Luxembourg", "EU"),
    "MT": ("Malta", "EU"),
    "NL": ("Netherlands", "EU"),
    "NO": ("Norway", "EU"),
    "PL": ("Poland", "EU"),
    "PT": ("Portugal", "EU"),
    "RO": ("Romania", "EU"),
    "SK": ("Slovakia", "EU"),
    "SI": ("Slovenia", "EU"),
    "ES": ("Spain", "EU"),
    "SE": ("Sweden", "EU"),
    "US": ("United States", "US"),
}


def jurisdiction_of_country(code: str) -> str | None:
    entry = COUNTRIES.get(code.upper())
    return entry[1] if entry else None


def country_name(code: str) -> str:
    entry = COUNTRIES.get(code.upper())
    return entry[0] if entry else code


def regions_of_jurisdiction(jurisdiction: str) -> list[str]:
    """The configured storage regions of `jurisdiction`, in settings order (the first is the default)."""
    return [
        region
        for region, config in settings.PALISADE_STORAGE.items()
        if config["jurisdiction"] == jurisdiction
    ]


def offered_countries() -> list[tuple[str, str]]:
    """(code, name) of the countries whose jurisdiction has a configured region, by name."""
    served = {config["jurisdiction"] for config in settings.PALISADE_STORAGE.values()}
    return sorted(
        ((code, name) for code, (name, jurisdiction) in COUNTRIES.items() if jurisdiction in served),
        key=lambda pair: pair[1],
    )
