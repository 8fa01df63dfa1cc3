"""Private attributes (PS3.15 E.3.10, Retain Safe Private Option): which ones of a dataset stay.

A private element (gggg,xxee) belongs to the block its creator (gggg,00xx) reserved; the same
attribute lands in different blocks in different files, so safety is decided by creator, group and
the low byte `ee`, never by the full tag."""

from __future__ import annotations

import pydicom
from pydicom.tag import BaseTag, Tag

from imaging.deid.profile import Option, Profile


def kept_private_tags(ds: pydicom.Dataset, profile: Profile) -> set[BaseTag]:
    """The private tags of this dataset level to keep: the safe ones and the creators of their blocks."""
    if Option.RETAIN_SAFE_PRIVATE not in profile.options or not profile.safe_private:
        return set()
    safe = {(s.creator.strip(), s.group, s.element) for s in profile.safe_private}
    kept: set[BaseTag] = set()
    for tag in list(ds.keys()):
        if not tag.is_private or tag.element < 0x1000:
            continue
        creator_tag = Tag(tag.group, tag.element >> 8)
        if creator_tag not in ds:
            continue  # an element without its creator cannot be attributed, so it cannot be safe
        creator = str(ds[creator_tag].value or "").strip()
        if (creator, tag.group, tag.element & 0xFF) in safe:
            kept.update((tag, creator_tag))
    return kept
