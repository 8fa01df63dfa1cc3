"""DIMSE status codes the listener answers with, and the status data sets that carry them."""

from dataclasses import dataclass

from pydicom.dataset import Dataset

SUCCESS = 0x0000
# PS3.7 C.5.8 (general): the peer is known but may not do this.
NOT_AUTHORIZED = 0x0124
# PS3.7 Annex C (general): a failure on our side, such as the database; the peer may try again.
PROCESSING_FAILURE = 0x0110
# PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4 (Query/Retrieve).
IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
MOVE_DESTINATION_UNKNOWN = 0xA801
CANCEL = 0xFE00
PENDING = 0xFF00
# C-FIND: a match, with optional keys of the identifier that were neither matched nor returned.
PENDING_WITH_UNSUPPORTED_KEYS = 0xFF01


def status_dataset(code: int, error_comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = int(code)
    if error_comment:
        # PS3.7 C.4.2.1.4 (0000,0902) Error Comment, LO: 64 characters. Our comments never quote a
        # value of an object or of a request, so no PHI travels back here.
        status.ErrorComment = error_comment[:64]
    return status


@dataclass(frozen=True)
class Refusal:
    """A request answered with a failure status and a reason, before anything is found or sent."""

    status: int
    comment: str

    def as_dataset(self) -> Dataset:
        return status_dataset(self.status, self.comment)
