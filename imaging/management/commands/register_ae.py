from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from imaging.dimse.services import register_remote_ae
from portal.cli import tenant_by_slug, validation_failure


class Command(BaseCommand):
    help = "Register a peer AE (modality, PACS, workstation) that may associate with a clinic's AE title."

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant", help="Tenant slug.")
        parser.add_argument("ae_title", metavar="AE title")
        parser.add_argument("--host", help="IP address the peer must connect from (no host names).")
        parser.add_argument("--port", type=int, help="Port of the peer's own listener (C-MOVE destination).")
        parser.add_argument(
            "--tls-subject",
            default="",
            help="Require a client certificate with this RFC 4514 subject, e.g. 'CN=ct-1,O=Alpha Imaging'.",
        )
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--no-store", action="store_true", help="The peer may not send instances (C-STORE refused)."
        )
        parser.add_argument(
            "--query", action="store_true", help="The peer may search the clinic's studies (C-FIND)."
        )
        parser.add_argument(
            "--retrieve",
            action="store_true",
            help="The peer may retrieve the clinic's instances (C-GET; C-MOVE to a registered destination).",
        )

    def handle(self, tenant: str, ae_title: str, **options) -> None:
        clinic = tenant_by_slug(tenant)
        try:
            remote_ae = register_remote_ae(
                clinic,
                ae_title,
                host=options["host"],
                port=options["port"],
                tls_subject=options["tls_subject"],
                description=options["description"],
                may_store=not options["no_store"],
                may_query=options["query"],
                may_retrieve=options["retrieve"],
            )
        except ValidationError as exc:
            raise validation_failure(exc) from exc
        pins = [f"from {remote_ae.host}"] if remote_ae.host else []
        if remote_ae.tls_subject:
            pins.append(f"with certificate {remote_ae.tls_subject}")
        self.stdout.write(
            f"Registered {remote_ae.ae_title} for {clinic.slug} (called AE title {clinic.ae_title})"
            + (f", {' and '.join(pins)}" if pins else "")
            + "."
        )
