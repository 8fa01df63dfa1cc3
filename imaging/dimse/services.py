"""Registering a clinic's peer AEs (the admin does the same through RemoteAEAdmin)."""

from django.db import transaction

import audit
from audit.models import AuditAction
from imaging.dimse.models import RemoteAE
from portal.models import Tenant
from portal.tenancy import tenant_scope

_REGISTERED_FIELDS = ["ae_title", "host", "port", "tls_subject", "may_store", "may_query", "may_retrieve"]


def register_remote_ae(
    tenant: Tenant,
    ae_title: str,
    *,
    host: str | None = None,
    port: int | None = None,
    tls_subject: str = "",
    description: str = "",
    may_store: bool = True,
    may_query: bool = False,
    may_retrieve: bool = False,
) -> RemoteAE:
    """Register a peer AE of `tenant`; raises ValidationError naming the field at fault (a taken AE
    title included)."""
    with tenant_scope(tenant), transaction.atomic():
        remote_ae = RemoteAE(
            tenant=tenant,
            ae_title=ae_title,
            host=host or None,
            port=port,
            tls_subject=tls_subject,
            description=description,
            may_store=may_store,
            may_query=may_query,
            may_retrieve=may_retrieve,
        )
        remote_ae.full_clean()
        remote_ae.save()
        audit.record(
            AuditAction.ADMIN_CHANGE,
            tenant=tenant,
            actor_role="platform_operator",
            object_type=RemoteAE._meta.label_lower,
            object_ids=[str(remote_ae.pk)],
            details={"operation": "add", "fields": _REGISTERED_FIELDS},
        )
    return remote_ae
