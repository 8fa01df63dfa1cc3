"""The index query layer shared by QIDO-RS (imaging.dicomweb.qido) and C-FIND (imaging.dimse.find)."""

from imaging.query.attributes import ATTRIBUTES, LEVEL_UIDS, Attribute, Level, attributes_up_to, default_tags
from imaging.query.criteria import (
    AnyOf,
    CriteriaError,
    FuzzyName,
    Matcher,
    QueryCriteria,
    Range,
    SingleValue,
    Wildcard,
    matcher_for,
)
from imaging.query.search import QueryPage, Row, search, search_instances, search_series, search_studies

__all__ = [
    "ATTRIBUTES",
    "LEVEL_UIDS",
    "AnyOf",
    "Attribute",
    "CriteriaError",
    "FuzzyName",
    "Level",
    "Matcher",
    "QueryCriteria",
    "QueryPage",
    "Range",
    "Row",
    "SingleValue",
    "Wildcard",
    "attributes_up_to",
    "default_tags",
    "matcher_for",
    "search",
    "search_instances",
    "search_series",
    "search_studies",
]
