import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.exports import dicom_xml, fhir
from audit.exports.selectors import ExportFilterError, events_for_export, export_filter
from audit.exports.services import record_export
from portal.models import Tenant
from portal.tenancy import tenant_scope

FORMATS = ("fhir", "dicom-xml")
# Events read, converted and written at a time: memory stays bounded on a long trail.
_PAGE = 500


class Command(BaseCommand):
    help = (
        "Export a clinic's audit trail, oldest first: FHIR R4 AuditEvents as NDJSON (one resource per "
        "line), or DICOM audit messages (PS3.15 A.5 XML, one message per line). The export is audited."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="The clinic's slug.")
        parser.add_argument("--format", required=True, choices=FORMATS, dest="export_format")
        parser.add_argument("--out", required=True, help="The file to write (replaced if it exists).")
        parser.add_argument("--since", help="ISO 8601 date or date-time: events recorded at or after it.")
        parser.add_argument("--until", help="ISO 8601 date or date-time: events recorded before it.")
        parser.add_argument("--action", action="append", default=[], help="Only these actions (repeatable).")

    def handle(self, *args, tenant: str, export_format: str, out: str, **options) -> None:
        clinic = Tenant.objects.filter(slug=tenant).first()
        if clinic is None:
            raise CommandError(f"No tenant {tenant!r}.")
        try:
            selected = export_filter(options["since"], options["until"], options["action"])
        except ExportFilterError as error:
            raise CommandError(str(error)) from None
        path = Path(out)
        if not path.parent.is_dir():
            raise CommandError(f"Cannot write {out}: the folder {path.parent} does not exist.")
        first = last = None
        count = 0
        with tenant_scope(clinic), path.open("wb") as stream:
            events = events_for_export(clinic, selected)
            after = 0
            while page := list(events.filter(sequence__gt=after)[:_PAGE]):
                for line in _lines(page, clinic, export_format):
                    stream.write(line + b"\n")
                first = first or page[0]
                last, after, count = page[-1], page[-1].sequence, count + len(page)
        record_export(
            clinic,
            export_format=export_format,
            interface="command",
            selected=selected,
            count=count,
            sequences=(first.sequence, last.sequence) if first and last else None,
        )
        self.stdout.write(f"Wrote {count} audit events of {clinic.slug} to {out} ({export_format}).")


def _lines(page, clinic: Tenant, export_format: str) -> list[bytes]:
    if export_format == "fhir":
        return [
            json.dumps(resource, separators=(",", ":"), ensure_ascii=False).encode()
            for resource in fhir.audit_events(page, clinic)
        ]
    return dicom_xml.audit_messages(page, clinic)
