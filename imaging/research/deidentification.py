"""One stored object in, one de-identified PS3.10 file out: the step every research path shares (project
exports, the per-study de-identified download, the `deidentify` command), with the tally of what left
and what was refused. Reasons come from imaging.deid, which names devices and flags, never patients."""

import io
from collections import Counter
from dataclasses import dataclass, field

from pydicom import dcmread, dcmwrite

from imaging.deid import PixelPolicy, Profile, ProjectKeys, Refused, deidentify
from imaging.deid.profile import EDITION
from imaging.models import StoredObject
from imaging.objects import open_plaintext


@dataclass
class Tally:
    """What an export did, by counts: the report shown to the clinic and kept on the export."""

    studies: set[int] = field(default_factory=set)
    instances: int = 0
    patients_left_out: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def report(self, profile: Profile) -> dict:
        return {
            "studies": len(self.studies),
            "instances": self.instances,
            "patients_left_out": self.patients_left_out,
            "refused": dict(sorted(self.refused.items())),
            "refused_total": sum(self.refused.values()),
            "options": profile.names(),
            "edition": EDITION,
        }


@dataclass
class Deidentifier:
    profile: Profile
    keys: ProjectKeys = field(repr=False)
    pixels: PixelPolicy
    tally: Tally = field(default_factory=Tally)

    def file_of(self, stored: StoredObject, data_key: bytes) -> bytes | None:
        """The object de-identified, as a PS3.10 file; None when the engine refused it (counted).

        The whole object is read into memory: masking burned-in text decodes the pixels anyway, and the
        engine works on a complete dataset. A study's objects go one at a time."""
        with open_plaintext(stored, data_key=data_key) as plaintext:
            dataset = dcmread(plaintext)
        try:
            outcome = deidentify(dataset, self.profile, self.keys, self.pixels)
        except Refused as refusal:
            self.tally.refused[refusal.reason] += 1
            return None
        written = io.BytesIO()
        dcmwrite(written, outcome.dataset, enforce_file_format=True)
        self.tally.instances += 1
        self.tally.studies.add(stored.instance.series.study_id)
        return written.getvalue()
