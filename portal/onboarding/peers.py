"""A clinic admin registering and removing the clinic's DICOM peers (imaging.dimse RemoteAE), with an
optional client certificate whose subject the listener then requires."""

from django.db import transaction
from django.http import HttpRequest

import audit
from audit.models import AuditAction
from imaging.dimse.models import RemoteAE
from portal.models import Tenant
from portal.onboarding.certificates import ClientCertificate
from portal.onboarding.models import PeerCertificate
from portal.tenancy import tenant_scope

_REGISTERED_FIELDS = ["ae_title", "host", "port", "tls_subject", "may_store", "may_query", "may_retrieve"]


def register_peer(
    tenant: Tenant,
    *,
    ae_title: str,
    host: str | None,
    port: int | None,
    may_store: bool,
    may_query: bool,
    may_retrieve: bool,
    description: str = "",
    certificate: ClientCertificate | None = None,
    request: HttpRequest,
) -> RemoteAE:
    """Register a peer of `tenant`; with `certificate`, pin its subject. Raises ValidationError naming the
    field at fault (a taken AE title included)."""
    with tenant_scope(tenant), transaction.atomic():
        remote_ae = RemoteAE(
            tenant=tenant,
            ae_title=ae_title,
            host=host or None,
            port=port,
            tls_subject=certificate.subject if certificate else "",
            description=description,
            may_store=may_store,
            may_query=may_query,
            may_retrieve=may_retrieve,
        )
        remote_ae.full_clean()
        remote_ae.save()
        if certificate is not None:
            PeerCertificate.objects.create(
                tenant=tenant,
                remote_ae=remote_ae,
                pem=certificate.pem,
                subject=certificate.subject,
                fingerprint_sha256=certificate.fingerprint_sha256,
                not_after=certificate.not_after,
                uploaded_by=request.user,
            )
        audit.record(
            AuditAction.AE_TITLE_REGISTERED,
            request=request,
            tenant=tenant,
            object_type=RemoteAE._meta.label_lower,
            object_ids=[str(remote_ae.pk)],
            details={
                "ae_title": remote_ae.ae_title,
                "fields": _REGISTERED_FIELDS,
                "certificate_sha256": certificate.fingerprint_sha256 if certificate else "",
            },
        )
    return remote_ae


def remove_peer(remote_ae: RemoteAE, *, request: HttpRequest) -> None:
    """Remove the registration: the next association from this AE title is refused."""
    tenant = remote_ae.tenant
    with tenant_scope(tenant), transaction.atomic():
        pk, ae_title = remote_ae.pk, remote_ae.ae_title
        remote_ae.delete()
        audit.record(
            AuditAction.AE_TITLE_REMOVED,
            request=request,
            tenant=tenant,
            object_type=RemoteAE._meta.label_lower,
            object_ids=[str(pk)],
            details={"ae_title": ae_title},
        )
