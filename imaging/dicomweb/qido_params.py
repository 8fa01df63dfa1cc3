"""QIDO-RS query parameters (PS3.18 8.3.4) → a transport-neutral QueryCriteria (imaging.query).

Choices where PS3.18 leaves them open:
- A match key this server cannot match (unknown keyword or tag, an attribute the index does not hold, a
  sequence path, an attribute below the query level, a return-only attribute with a value) is refused
  with 400 naming the key (8.3.4.1 allows ignoring with a warning instead; silently returning more
  than was asked would read as a match). A key sent without a value only asks for it to be returned.
- `includefield` of an attribute the index does not hold is ignored, and `includefield=all` returns
  every attribute the index holds at the level and above (10.6.3.3 does not require more).
- Repeated UID keys and comma-separated values are read as a list of UIDs (8.3.4.1), as is
  Modalities In Study.
"""

import re
from dataclasses import dataclass

from django.http import QueryDict
from pydicom.datadict import tag_for_keyword

from imaging.query import (
    ATTRIBUTES,
    AnyOf,
    Attribute,
    CriteriaError,
    Level,
    Matcher,
    QueryCriteria,
    attributes_up_to,
    default_tags,
    matcher_for,
)
from imaging.query.attributes import INSTANCE_AVAILABILITY, LEVEL_UIDS, MODALITIES_IN_STUDY

_CONTROL_PARAMETERS = {"limit", "offset", "fuzzymatching", "includefield"}
_TAG_RE = re.compile(r"[0-9A-Fa-f]{8}")
_COUNT_RE = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class QidoQuery:
    criteria: QueryCriteria
    limit: int | None
    offset: int


def parse_query(params: QueryDict, level: Level, path_uids: dict[Level, str]) -> QidoQuery:
    """Read the query string of a search at `level`; `path_uids` are the study and series UIDs of the
    resource path. Raises CriteriaError, whose message names the offending parameter."""
    fuzzy = _boolean(params, "fuzzymatching")
    matches: dict[int, Matcher] = {}
    returned: set[int] = set()
    for key in params:
        if key in _CONTROL_PARAMETERS:
            continue
        attribute = _match_key(key, level)
        values = params.getlist(key)
        if len(values) > 1 and not _is_list(attribute):
            raise CriteriaError(f"Query parameter {_shown(key)} is given more than once.")
        value = "\\".join(values).replace(",", "\\") if _is_list(attribute) else values[0]
        returned.add(attribute.tag)
        matcher = matcher_for(attribute, value, fuzzy=fuzzy)
        if matcher is not None:
            matches[attribute.tag] = matcher
    for path_level, uid in path_uids.items():
        # The resource path narrows the search like a UID key; both must hold when both are given.
        tag = LEVEL_UIDS[path_level]
        given = matches.get(tag)
        allowed = given.values if isinstance(given, AnyOf) else (uid,)
        matches[tag] = AnyOf(tuple(value for value in allowed if value == uid))
    include_all, included = _include_fields(params, level)
    if include_all:
        returned |= {attribute.tag for attribute in attributes_up_to(level)}
        if level == Level.INSTANCE:
            returned.add(INSTANCE_AVAILABILITY)
    returned |= default_tags(level, set(path_uids)) | included
    return QidoQuery(
        QueryCriteria(level, matches, frozenset(returned)),
        limit=_count(params, "limit"),
        offset=_count(params, "offset") or 0,
    )


def _match_key(key: str, level: Level) -> Attribute:
    tag = _tag(key)
    if tag is None:
        raise CriteriaError(
            f"Unknown query parameter {_shown(key)}: not a DICOM keyword, an 8-digit hexadecimal tag, "
            "limit, offset, fuzzymatching or includefield."
        )
    attribute = ATTRIBUTES.get(tag)
    if attribute is None:
        raise CriteriaError(f"Query parameter {_shown(key)} is not supported: it cannot be matched here.")
    if attribute.level > level:
        raise CriteriaError(
            f"Query parameter {_shown(key)} is a {attribute.level.name.lower()} attribute; "
            f"it cannot be matched in a {level.name.lower()} query."
        )
    return attribute


def _include_fields(params: QueryDict, level: Level) -> tuple[bool, set[int]]:
    included: set[int] = set()
    include_all = False
    for value in params.getlist("includefield"):
        for field in (item.strip() for item in value.split(",")):
            if field.lower() == "all":
                include_all = True
                continue
            tag = _tag(field)
            if tag in ATTRIBUTES and ATTRIBUTES[tag].level <= level:
                included.add(tag)
    return include_all, included


def _tag(key: str) -> int | None:
    if _TAG_RE.fullmatch(key):
        return int(key, 16)
    return tag_for_keyword(key)


def _is_list(attribute: Attribute) -> bool:
    return attribute.vr == "UI" or attribute.tag == MODALITIES_IN_STUDY


def _boolean(params: QueryDict, name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise CriteriaError(f"Query parameter {name} takes true or false.")
    return value == "true"


def _count(params: QueryDict, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _COUNT_RE.fullmatch(value):
        raise CriteriaError(f"Query parameter {name} takes a non-negative integer (at most 9 digits).")
    return int(value)


def _shown(key: str) -> str:
    # Keys are names, not values, but a client may put anything there: quote a bounded, printable form.
    return repr(key[:64])
