"""Who may open an association to which clinic: the access rules of the DIMSE listener.

One listener serves every clinic. The called AE title names the clinic (Tenant.ae_title); the calling
AE title must be one of that clinic's registered peers (RemoteAE), and each of the peer's optional
pins must hold: the source IP address (`host`) and the verified client certificate's subject
(`tls_subject`). Anything else is refused before any DIMSE message is read.

Refusals answer A-ASSOCIATE-RJ (PS3.8 7.1.1.8 and Table 9-21) with result 1 "rejected-permanent" and
source 1 "DICOM UL service-user", and reason 7 "called-AE-title-not-recognized" for an unknown or
inactive clinic, else reason 3 "calling-AE-title-not-recognized": a wrong address or certificate is
reported as an unrecognised caller, so that a probe learns nothing about which pin failed. The audit
trail records the precise reason.
"""

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509

import audit
from audit.models import AuditAction, Outcome
from imaging.dimse.models import RemoteAE, parse_tls_subject
from portal.compiled_query import INTEGER, CompiledQuery, columns, instances
from portal.models import Tenant
from portal.tenancy import tenant_scope

# PS3.8 Table 9-21, A-ASSOCIATE-RJ fields.
REJECTED_PERMANENT = 0x01
REJECTED_TRANSIENT = 0x02
SERVICE_USER = 0x01
NO_REASON_GIVEN = 0x01
CALLING_AE_NOT_RECOGNIZED = 0x03
CALLED_AE_NOT_RECOGNIZED = 0x07


class Refusal(StrEnum):
    UNKNOWN_CALLED_AE = "unknown_called_ae"
    UNKNOWN_CALLING_AE = "unknown_calling_ae"
    WRONG_SOURCE_ADDRESS = "wrong_source_address"
    TLS_SUBJECT_MISMATCH = "tls_subject_mismatch"

    @property
    def diagnostic(self) -> int:
        if self == Refusal.UNKNOWN_CALLED_AE:
            return CALLED_AE_NOT_RECOGNIZED
        return CALLING_AE_NOT_RECOGNIZED


@dataclass(frozen=True)
class AssociationRequest:
    """What an A-ASSOCIATE-RQ and its transport tell about the peer."""

    called_ae_title: str
    calling_ae_title: str
    address: str
    # Subject of the client certificate the TLS handshake verified; None without one (or without TLS).
    tls_subject: x509.Name | None = None

    @property
    def tls_subject_text(self) -> str:
        return self.tls_subject.rfc4514_string() if self.tls_subject is not None else ""


@dataclass(frozen=True)
class Peer:
    """An admitted association: the clinic it serves and the registered AE it came from."""

    tenant: Tenant
    remote_ae_id: int
    request: AssociationRequest

    def registration(self) -> RemoteAE | None:
        """The peer's registration as it is now, for a decision on one request: a change applies to the
        next request, not the next association. Call inside the clinic's scope."""
        rows = _REGISTRATION.rows(self.tenant.pk, self.remote_ae_id)
        return instances(rows[0], RemoteAE)[0] if rows else None

    def audit(
        self,
        action: AuditAction,
        *,
        outcome: Outcome = Outcome.SUCCESS,
        object_type: str = "",
        object_ids: list[str] | tuple[str, ...] = (),
        details: dict | None = None,
    ) -> None:
        """One audit event of a DIMSE request of this peer: identifiers and AE titles, never values."""
        audit.record(
            action,
            tenant=self.tenant,
            actor_role="remote_ae",
            outcome=outcome,
            object_type=object_type,
            object_ids=object_ids,
            details={"calling_ae": self.request.calling_ae_title, **(details or {})},
            source_address=self.request.address or None,
        )


# Asked before every DIMSE request: compiled once (portal/compiled_query.py).
_REGISTRATION = CompiledQuery(
    lambda tenant_id, pk: RemoteAE.objects.filter(tenant_id=tenant_id, pk=pk).values_list(*columns(RemoteAE)),
    INTEGER,
    INTEGER,
    tenant_owned=True,
)


class AssociationRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


def admit(request: AssociationRequest) -> Peer:
    """Admit the association or raise AssociationRefused; either way, audit the decision."""
    tenant = Tenant.objects.filter(ae_title=request.called_ae_title, is_active=True).first()
    if tenant is None:
        _audit(request, None, None, Refusal.UNKNOWN_CALLED_AE)
        raise AssociationRefused(Refusal.UNKNOWN_CALLED_AE)
    with tenant_scope(tenant):
        remote_ae = RemoteAE.objects.filter(ae_title=request.calling_ae_title, is_active=True).first()
        refusal = _refusal(remote_ae, request)
        _audit(request, tenant, remote_ae, refusal)
    if refusal is not None:
        raise AssociationRefused(refusal)
    return Peer(tenant=tenant, remote_ae_id=remote_ae.pk, request=request)


def _refusal(remote_ae: RemoteAE | None, request: AssociationRequest) -> Refusal | None:
    if remote_ae is None:
        return Refusal.UNKNOWN_CALLING_AE
    if remote_ae.host and not same_address(remote_ae.host, request.address):
        return Refusal.WRONG_SOURCE_ADDRESS
    if remote_ae.tls_subject and request.tls_subject != parse_tls_subject(remote_ae.tls_subject):
        return Refusal.TLS_SUBJECT_MISMATCH
    return None


def same_address(registered: str, source: str) -> bool:
    """Compare IP addresses as addresses (never names: DNS is not an authority on who connects),
    treating an IPv4-mapped IPv6 source (::ffff:10.0.0.5, from a dual-stack listener) as IPv4."""
    try:
        source_ip = ipaddress.ip_address(source)
        registered_ip = ipaddress.ip_address(registered)
    except ValueError:
        return False
    if isinstance(source_ip, ipaddress.IPv6Address) and source_ip.ipv4_mapped is not None:
        source_ip = source_ip.ipv4_mapped
    return source_ip == registered_ip


def _audit(
    request: AssociationRequest, tenant: Tenant | None, remote_ae: RemoteAE | None, refusal: Refusal | None
) -> None:
    # One DIMSE_ASSOCIATION event per association request, whatever the outcome; a refusal is also an
    # ACCESS_DENIED event, the action that alert rules watch across pages, DICOMweb and DIMSE.
    details = {
        "called_ae": request.called_ae_title,
        "calling_ae": request.calling_ae_title,
        "tls_subject": request.tls_subject_text,
    }
    if refusal is not None:
        details["reason"] = refusal.value
    common = {
        "tenant": tenant,
        "actor_role": "remote_ae",
        "object_type": "remote_ae" if remote_ae is not None else "",
        "object_ids": [str(remote_ae.pk)] if remote_ae is not None else [],
        "details": details,
        "source_address": request.address or None,
    }
    outcome = Outcome.SUCCESS if refusal is None else Outcome.FAILURE
    audit.record(AuditAction.DIMSE_ASSOCIATION, outcome=outcome, **common)
    if refusal is not None:
        audit.record(AuditAction.ACCESS_DENIED, outcome=Outcome.FAILURE, **common)
