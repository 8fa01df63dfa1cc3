"""Matchers as Django ORM conditions on index columns.

Wildcards become LIKE (via startswith/endswith/contains, which escape `%` and `_`) when the pattern
allows, since a prefix LIKE can use an index; any other pattern becomes an anchored regular expression
built from escaped literals. Person names match case-insensitively (PS3.4 C.2.2.2.1 leaves it to the
implementation; names are typed by people). Other values match as stored, except that SQLite's LIKE
ignores ASCII case: the embedded database is a development default, not a contract.
"""

import re

from django.db.models import Q

from imaging.query.criteria import AnyOf, FuzzyName, Matcher, Range, SingleValue, Wildcard

# Separators of name components (^), of name groups (=), and spaces inside components.
_NAME_COMPONENT_START = r"(^|[ =,^])"


def condition(path: str, vr: str, matcher: Matcher) -> Q:
    """The condition that `matcher` puts on the column at ORM `path`, of value representation `vr`."""
    insensitive = vr == "PN"
    if isinstance(matcher, SingleValue):
        return Q(**{f"{path}__iexact" if insensitive else path: matcher.value})
    if isinstance(matcher, AnyOf):
        if len(matcher.values) == 1:
            return Q(**{path: matcher.values[0]})
        return Q(**{f"{path}__in": matcher.values})
    if isinstance(matcher, Range):
        return _range(path, matcher)
    if isinstance(matcher, Wildcard):
        return _wildcard(path, matcher.pattern, insensitive=insensitive)
    if isinstance(matcher, FuzzyName):
        lookup = f"{path}__iregex"
        # Every word must begin a component of the name, wherever it is.
        conditions = [Q(**{lookup: _NAME_COMPONENT_START + re.escape(word)}) for word in matcher.words]
        result = conditions[0]
        for extra in conditions[1:]:
            result &= extra
        return result
    raise TypeError(f"Unknown matcher {type(matcher).__name__}")


def _range(path: str, matcher: Range) -> Q:
    if matcher.low is not None and matcher.low == matcher.high:
        return Q(**{path: matcher.low})
    bounds = Q()
    if matcher.low is not None:
        bounds &= Q(**{f"{path}__gte": matcher.low})
    if matcher.high is not None:
        bounds &= Q(**{f"{path}__lte": matcher.high})
    return bounds


def _wildcard(path: str, pattern: str, *, insensitive: bool) -> Q:
    prefix = "i" if insensitive else ""
    core = pattern.strip("*")
    if "?" not in pattern and "*" not in core and core:
        starts, ends = pattern.startswith("*"), pattern.endswith("*")
        if starts and ends:
            return Q(**{f"{path}__{prefix}contains": core})
        if ends:
            return Q(**{f"{path}__{prefix}startswith": core})
        if starts:
            return Q(**{f"{path}__{prefix}endswith": core})
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return Q(**{f"{path}__{prefix}regex": f"^{regex}$"})
