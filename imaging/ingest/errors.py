"""Why an object was refused at the ingest boundary, in words a technologist can act on.

A rejection carries three things: a short machine `code` (stable, for the job row, metrics and tests), a
`reason` (one sentence for the uploader) and the `failure_reason` status a STOW-RS response reports in its
Failed SOP Sequence (PS3.18 10.5.3, statuses from PS3.4 Annex B.2.3 and PS3.18 Table 10.5.3-1).

Reasons name the attribute or limit at fault, never a value read from the object: values can be PHI, and
rejection reasons end up in job rows, responses and logs.
"""

from enum import IntEnum


class FailureReason(IntEnum):
    """Failure Reason (0008,1197) values for a STOW-RS response."""

    PROCESSING_FAILURE = 0x0110
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    OUT_OF_RESOURCES = 0xA700
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122
    # STOW-RS to /studies/{study} of an instance of another study: the value PS3.18 gave this failure
    # in its earlier editions (6.6.1.3.2.1), still what archives such as dcm4chee answer.
    STUDY_INSTANCE_UID_MISMATCH = 0xC409


# Every code the ingest boundary emits, with the status it maps to. A code missing here is a programming
# error, caught by IngestRejected's constructor, so codes and statuses cannot drift apart.
FAILURE_BY_CODE: dict[str, FailureReason] = {
    # The bytes are not a DICOM Part 10 file we can read.
    "not_dicom": FailureReason.CANNOT_UNDERSTAND,
    "no_file_meta": FailureReason.CANNOT_UNDERSTAND,
    "bad_file_meta": FailureReason.CANNOT_UNDERSTAND,
    "truncated": FailureReason.CANNOT_UNDERSTAND,
    "corrupt": FailureReason.CANNOT_UNDERSTAND,
    # Readable, but not a composite instance that conforms to its SOP class.
    "missing_uid": FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,
    "invalid_uid": FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,
    "meta_mismatch": FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,
    "dicomdir": FailureReason.SOP_CLASS_NOT_SUPPORTED,
    "study_mismatch": FailureReason.STUDY_INSTANCE_UID_MISMATCH,
    "unsupported": FailureReason.TRANSFER_SYNTAX_NOT_SUPPORTED,
    # Limits we impose to protect the service.
    "too_deep": FailureReason.OUT_OF_RESOURCES,
    "pixel_budget": FailureReason.OUT_OF_RESOURCES,
    "too_large": FailureReason.OUT_OF_RESOURCES,
    # Archives (browser and import_dicom uploads; STOW-RS carries no ZIPs).
    "not_zip": FailureReason.CANNOT_UNDERSTAND,
    "unsafe_archive": FailureReason.CANNOT_UNDERSTAND,
    "unsupported_archive": FailureReason.CANNOT_UNDERSTAND,
    "archive_too_large": FailureReason.OUT_OF_RESOURCES,
}


class IngestRejected(Exception):
    """An uploaded object or archive refused at the parse-and-validate boundary."""

    def __init__(self, code: str, reason: str, *, detail: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.failure_reason = FAILURE_BY_CODE[code]
        # For operators' logs: the class of an unexpected parser exception, never its message (PHI).
        self.detail = detail

    def __repr__(self) -> str:
        return f"IngestRejected(code={self.code!r}, failure_reason=0x{self.failure_reason:04X})"
