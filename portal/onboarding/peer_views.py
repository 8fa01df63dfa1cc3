"""The DICOM peers page: the AEs that may talk to the clinic, with their TLS certificates."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.policy import Action
from imaging.dimse.models import RemoteAE
from portal.decorators import tenant_action_required
from portal.onboarding import peers
from portal.onboarding.certificates import colon_fingerprint
from portal.onboarding.forms import (
    PeerForm,
)
from portal.onboarding.models import PeerCertificate

# --- DICOM peers ----------------------------------------------------------------------------------------


def _peers_page(request: HttpRequest, form: PeerForm, status: int = 200) -> HttpResponse:
    tenant = request.tenant
    certificates = {c.remote_ae_id: c for c in PeerCertificate.objects.all()}
    rows = [
        {
            "peer": peer,
            "certificate": certificates.get(peer.pk),
            "fingerprint": colon_fingerprint(certificates[peer.pk].fingerprint_sha256)
            if peer.pk in certificates
            else "",
        }
        for peer in RemoteAE.objects.all()
    ]
    return render(
        request,
        "onboarding/dicom_peers.html",
        {
            "tenant": tenant,
            "membership": request.membership,
            "rows": rows,
            "form": form,
            "scp_host": settings.PALISADE_DIMSE_PUBLIC_HOST,
            "scp_port": settings.PALISADE_DIMSE_PUBLIC_PORT,
            "scp_tls": settings.PALISADE_DIMSE_TLS,
            "now": timezone.now(),
        },
        status=status,
    )


@tenant_action_required(Action.MANAGE_CLINIC)
@require_http_methods(["GET", "POST"])
def dicom_peers(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = PeerForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                peer = peers.register_peer(
                    request.tenant,
                    ae_title=data["ae_title"],
                    host=data["host"] or None,
                    port=data["port"],
                    may_store=data["may_store"],
                    may_query=data["may_query"],
                    may_retrieve=data["may_retrieve"],
                    description=data["description"],
                    certificate=data["certificate"],
                    request=request,
                )
            except ValidationError as exc:
                for field_name, errors in exc.message_dict.items():
                    form.add_error(field_name if field_name in form.fields else None, errors)
            else:
                messages.success(
                    request, f"{peer.ae_title} may now associate with {request.tenant.ae_title}."
                )
                return redirect("dicom-peers", tenant_slug=tenant_slug)
        return _peers_page(request, form, status=400)
    return _peers_page(request, form)


@tenant_action_required(Action.MANAGE_CLINIC)
@require_POST
def dicom_peer_remove(request: HttpRequest, tenant_slug: str, peer_id: int) -> HttpResponse:
    peer = get_object_or_404(RemoteAE, pk=peer_id)
    peers.remove_peer(peer, request=request)
    messages.success(request, f"{peer.ae_title} was removed: its next association will be refused.")
    return redirect("dicom-peers", tenant_slug=tenant_slug)
