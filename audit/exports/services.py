"""Reading the audit trail out is itself audited (issue 7): every export leaves an AUDIT_EXPORTED
event on the clinic's chain, naming the chain, the filters and the range of events sent."""

import audit
from audit.chain import chain_of
from audit.exports.selectors import ExportFilter
from audit.models import AuditAction, AuditEvent
from portal.models import Tenant


def record_export(
    tenant: Tenant,
    *,
    export_format: str,
    interface: str,
    selected: ExportFilter,
    count: int,
    sequences: tuple[int, int] | None,
    request=None,
    actor_role: str = "",
) -> AuditEvent:
    details = {
        "format": export_format,
        "interface": interface,
        "count": count,
        # The first and last event sent, by their sequence in the chain.
        "sequences": list(sequences) if sequences else None,
        **selected.as_details(),
    }
    if interface == "rest":
        details["service"] = "fhir"
        # The API token it was read with, if any (by its prefix, as DICOMweb events name it).
        details["token"] = getattr(getattr(request, "auth", None), "prefix", None)
    return audit.record(
        AuditAction.AUDIT_EXPORTED,
        request=request,
        tenant=tenant,
        actor_role=actor_role,
        object_type="audit_chain",
        object_ids=[chain_of(tenant.pk)],
        details=details,
    )
