"""QIDO-RS results in the DICOM JSON model (PS3.18 F.2), each with its Retrieve URL (0008,1190).

The JSON text is written directly rather than through dicts and json.dumps: a page can hold 100,000
instances, and a million short-lived dicts cost more in garbage collection than in encoding. Strings go
through the json module's own escaping, so the output is the JSON that json.dumps would write.
"""

import datetime
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _string
from typing import Any

from imaging.query import ATTRIBUTES, LEVEL_UIDS, Level, QueryPage, Row

RETRIEVE_URL = 0x00081190
_Encoder = Callable[[Any], str]


def search_results(page: QueryPage, studies_url: str) -> str:
    """The response body; `studies_url` is the absolute URL of the tenant's /studies resource."""
    if not page.rows:
        return "[]"
    tags = sorted(page.rows[0])
    # Keys sorted by tag (PS3.18 F.2.1.1), with the Retrieve URL in its place.
    keys = sorted([*tags, RETRIEVE_URL])
    encoders = [(tag, _encoder(f"{tag:08X}", ATTRIBUTES[tag].vr)) for tag in keys if tag != RETRIEVE_URL]
    position = keys.index(RETRIEVE_URL)
    items = []
    for row in page.rows:
        members = [encode(row[tag]) for tag, encode in encoders]
        members.insert(
            position,
            f'"00081190":{{"vr":"UR","Value":[{_string(_retrieve_url(page.level, row, studies_url))}]}}',
        )
        items.append("{" + ",".join(members) + "}")
    return "[" + ",".join(items) + "]"


def _retrieve_url(level: Level, row: Row, studies_url: str) -> str:
    # The WADO-RS resource of the result (PS3.18 10.4.1). Indexed UIDs are digits and dots (checked at
    # ingestion, imaging.ingest.parse), so they need no quoting in a path.
    url = f"{studies_url}/{row[LEVEL_UIDS[Level.STUDY]]}"
    if level >= Level.SERIES:
        url += f"/series/{row[LEVEL_UIDS[Level.SERIES]]}"
    if level == Level.INSTANCE:
        url += f"/instances/{row[LEVEL_UIDS[Level.INSTANCE]]}"
    return url


def _encoder(key: str, vr: str) -> _Encoder:
    """One encoder per attribute of the page, chosen once."""
    # PS3.18 F.2.5: an empty attribute is its VR alone, without "Value".
    empty = f'"{key}":{{"vr":"{vr}"}}'
    start = f'"{key}":{{"vr":"{vr}","Value":['
    if vr in ("IS", "US"):
        return lambda value: empty if value is None else f"{start}{int(value)}]}}"
    convert = _CONVERTERS.get(vr, _string)

    def encode(value: Any) -> str:
        if not value:
            return empty
        values = value if isinstance(value, list) else (value,)
        return start + ",".join(convert(item) for item in values) + "]}"

    return encode


_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


def _person_name(value: str) -> str:
    # PS3.18 F.2.2: the '='-separated component groups of a PN value, by name.
    groups = [
        f'"{name}":{_string(group)}'
        for name, group in zip(_PN_GROUPS, value.split("="), strict=False)
        if group
    ]
    return "{" + ",".join(groups) + "}"


def _date(value: datetime.date) -> str:
    return f'"{value:%Y%m%d}"'


def _time(value: datetime.time) -> str:
    text = value.strftime("%H%M%S")
    return f'"{text}.{value.microsecond:06d}"' if value.microsecond else f'"{text}"'


_CONVERTERS: dict[str, Callable[[Any], str]] = {"PN": _person_name, "DA": _date, "TM": _time}
