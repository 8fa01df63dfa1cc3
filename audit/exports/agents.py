"""Who took part in an audit event, for both exports: the requestor (a member, a DICOM peer, an
anonymous caller) and Palisade itself, and the identifier systems Palisade's own records use.

Members are named by their user ID, never by e-mail or name: patients are members too, and the
exports leave the clinic for the operator's collector.
"""

from dataclasses import dataclass

from django.conf import settings

from audit.models import AuditEvent
from portal.models import Tenant

# Identifier systems of Palisade's own records (FHIR Identifier.system; the DICOM XML's local codes).
URN = "urn:palisade"
USER_SYSTEM = f"{URN}:user"
ROLE_SYSTEM = f"{URN}:role"
AE_TITLE_SYSTEM = f"{URN}:ae-title"


def record_system(object_type: str) -> str:
    return f"{URN}:{object_type.replace('.', '-').replace('_', '-')}"


def patient_id_system(tenant: Tenant | None) -> str:
    """Patient IDs are unique only within a clinic (and its issuers)."""
    return f"{URN}:{tenant.slug if tenant else 'platform'}:patient-id"


def audit_trail_uri(chain: str) -> str:
    return f"{URN}:audit-trail:{chain}"


def source_id() -> str:
    """AuditSourceID and FHIR source.observer: this Palisade installation."""
    return settings.PALISADE_AUDIT_SOURCE_ID


@dataclass(frozen=True)
class Requestor:
    user_id: str
    # DICOM AlternativeUserID: AETITLES=<title> for a DICOM peer (PS3.15 A.5.2.1).
    alternative_id: str = ""
    role: str = ""
    address: str = ""
    is_member: bool = False
    is_peer: bool = False


def requestor_of(event: AuditEvent) -> Requestor | None:
    """Who asked for what the event records, or None when Palisade acted of its own accord (a
    scheduled task: no user, no address, no peer)."""
    details = event.details or {}
    address = event.source_address or ""
    if event.actor_id is not None:
        return Requestor(str(event.actor_id), role=event.actor_role, address=address, is_member=True)
    calling_ae = details.get("calling_ae")
    if event.actor_role == "remote_ae" or calling_ae:
        title = str(calling_ae or "")
        return Requestor(
            title or "unknown-ae",
            alternative_id=f"AETITLES={title}" if title else "",
            role=event.actor_role,
            address=address,
            is_peer=True,
        )
    attempted = details.get("attempted_name_hmac")
    if attempted:
        # A failed sign-in: only a keyed digest of the name typed is kept (audit.signals).
        return Requestor(f"hmac:{attempted}", address=address)
    if address or event.session_ref:
        return Requestor("anonymous", address=address)
    return None
