"""De-identification (PS3.15 Annex E): the profile engine, its keyed pseudonyms and pixel cleaning.

`deidentify(ds, profile, keys, pixels)` applies Table E.1-1 (PS3.15 2024b, imaging/deid/data) with the
options of `profile` to a freshly read dataset, in place, and returns it with a PHI-free report; it raises
`Refused` when the object must not leave (burned-in annotation the policy will not clean). One
`ProjectKeys` per research project keeps UIDs, patient pseudonyms and date shifts consistent across every
object exported for that project. docs/deidentification.md explains each action and choice.
"""

from imaging.deid.engine import DeidOutcome, Refused, deidentify
from imaging.deid.pixels import MaskRule, PixelDecision, PixelPolicy
from imaging.deid.profile import Option, Profile, SafePrivate
from imaging.deid.pseudonyms import ProjectKeys

__all__ = [
    "DeidOutcome",
    "MaskRule",
    "Option",
    "PixelDecision",
    "PixelPolicy",
    "Profile",
    "ProjectKeys",
    "Refused",
    "SafePrivate",
    "deidentify",
]
