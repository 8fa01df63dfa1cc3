"""deidentify <tenant> <study-uid ...> --out DIR [--project P] [--option O ...] (DESIGN.md)."""

import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from imaging.crypto.providers import KeyManagementError
from imaging.crypto.segments import BlobIntegrityError
from imaging.deid import Option
from imaging.research import exports, services
from imaging.research.models import ResearchProject
from portal.cli import tenant_by_slug
from portal.tenancy import tenant_scope


class Command(BaseCommand):
    help = (
        "Write de-identified copies (DICOM PS3.15 Annex E) of a clinic's studies into a folder. Patients "
        "without research consent are left out and counted; the summary names no patient."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant", help="Slug of the clinic.")
        parser.add_argument("study_uids", nargs="+", metavar="study-uid", help="Study Instance UIDs.")
        parser.add_argument("--out", required=True, type=Path, help="An empty (or new) folder.")
        parser.add_argument(
            "--project", help="A research project of the clinic (its id or name): its options and pseudonyms."
        )
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            dest="options",
            help=f"An Annex E option, kebab case; repeat for more: {', '.join(o.value for o in Option)}.",
        )

    def handle(
        self, tenant: str, study_uids: list[str], out: Path, project: str | None, options: list[str], **_
    ) -> None:
        if project and options:
            raise CommandError("Give --project or --option, not both: a project brings its own options.")
        clinic = tenant_by_slug(tenant)
        out.mkdir(parents=True, exist_ok=True)
        if any(out.iterdir()):
            raise CommandError(f"{out} is not empty.")
        with tenant_scope(clinic):
            chosen = _project(project) if project else None
            try:
                report = exports.export_to_folder(clinic, study_uids, out, options=options, project=chosen)
            except services.ProjectRefused as refusal:
                raise CommandError(str(refusal)) from None
            except (BlobIntegrityError, KeyManagementError) as failure:
                raise CommandError(f"A stored image could not be read ({type(failure).__name__}).") from None
        self.stdout.write(
            f"Exported {report['instances']} instances of {report['studies']} studies to {out}; "
            f"{report['patients_left_out']} patients left out without research consent; "
            f"{report['refused_total']} objects refused."
        )
        for reason, count in report["refused"].items():
            self.stdout.write(f"refused {count}: {reason}")


def _project(reference: str) -> ResearchProject:
    projects = ResearchProject.objects.all()
    try:
        found = projects.filter(pk=uuid.UUID(reference)).first()
    except ValueError:
        found = projects.filter(name=reference).first()
    if found is None:
        raise CommandError(f"No research project {reference!r} in this clinic.")
    return found
