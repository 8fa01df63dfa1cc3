"""The Store Instances Response (PS3.18 10.5.3) in the DICOM JSON model (PS3.18 F.2).

ReferencedSOPSequence (0008,1199) lists what was stored, each with its Retrieve URL; FailedSOPSequence
(0008,1198) what was not, each with its Failure Reason (0008,1197). No Warning Reason (0008,1196) is given:
nothing is coerced or discarded on receipt, and duplicates and new versions are only found at indexing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from imaging.ingest.errors import FailureReason

DICOM_JSON = "application/dicom+json"


@dataclass(frozen=True)
class InstanceOutcome:
    """One part of a STOW-RS request: stored when failure_reason is None. UIDs may be empty when the
    part could not be read far enough to know them."""

    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    failure_reason: int | None = None

    @property
    def stored(self) -> bool:
        return self.failure_reason is None


def store_status(outcomes: Sequence[InstanceOutcome], *, storage_full: bool = False) -> int:
    """PS3.18 10.5.3: 200 when every instance was stored, 202 when some failed, 409 when none was stored.

    Stored means durably received: encrypted, fsynced and recorded in the ingest outbox before this
    answer (DESIGN.md, Ingestion). Indexing for QIDO-RS follows in a worker and is not waited for; it
    cannot lose the instance, so 200 rather than the 202 of "accepted for later processing".
    A full store answers 507 (THREATS.md, Faults) with what was stored before it filled up.
    """
    if storage_full:
        return 507
    failed = sum(1 for outcome in outcomes if not outcome.stored)
    if failed == 0:
        return 200
    return 409 if failed == len(outcomes) else 202


def store_response(outcomes: Sequence[InstanceOutcome], *, studies_url: str) -> dict:
    """The response payload; `studies_url` is the absolute URL of the tenant's /studies resource."""
    body: dict = {}
    stored = [outcome for outcome in outcomes if outcome.stored]
    failed = [outcome for outcome in outcomes if not outcome.stored]
    studies = {outcome.study_instance_uid for outcome in stored}
    if len(studies) == 1:
        body["00081190"] = _url(_study_url(studies_url, studies.pop()))
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": [_referenced(outcome, studies_url) for outcome in stored]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": [_failed(outcome) for outcome in failed]}
    return body


def _study_url(studies_url: str, study_uid: str) -> str:
    return f"{studies_url}/{quote(study_uid, safe='.')}"


def _instance_url(studies_url: str, outcome: InstanceOutcome) -> str:
    return (
        f"{_study_url(studies_url, outcome.study_instance_uid)}"
        f"/series/{quote(outcome.series_instance_uid, safe='.')}"
        f"/instances/{quote(outcome.sop_instance_uid, safe='.')}"
    )


def _uid(value: str) -> dict:
    # PS3.18 F.2.5: an empty value has no "Value" member.
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _url(value: str) -> dict:
    return {"vr": "UR", "Value": [value]}


def _referenced(outcome: InstanceOutcome, studies_url: str) -> dict:
    return {
        "00081150": _uid(outcome.sop_class_uid),
        "00081155": _uid(outcome.sop_instance_uid),
        "00081190": _url(_instance_url(studies_url, outcome)),
    }


def _failed(outcome: InstanceOutcome) -> dict:
    return {
        "00081150": _uid(outcome.sop_class_uid),
        "00081155": _uid(outcome.sop_instance_uid),
        "00081197": {"vr": "US", "Value": [int(outcome.failure_reason or FailureReason.PROCESSING_FAILURE)]},
    }
