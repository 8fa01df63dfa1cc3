from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from imaging.viewer.install import PINNED, ViewerInstallError, install_viewer


class Command(BaseCommand):
    help = (
        f"Download {PINNED.spec} from the npm registry (npm pack), check its pinned integrity and install "
        "its prebuilt dist/, rewritten for /viewer/, into PALISADE_VIEWER_DIR. Does nothing when it is "
        "installed already."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Install again even when this release is installed."
        )

    def handle(self, force: bool, **options) -> None:
        target = settings.PALISADE_VIEWER_DIR
        try:
            installed = install_viewer(target, force=force)
        except ViewerInstallError as exc:
            raise CommandError(str(exc)) from exc
        state = "installed" if installed else "already installed"
        self.stdout.write(f"OHIF viewer {PINNED.spec} {state} in {target}.")
