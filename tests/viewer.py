"""What the viewer tests share: they need the real OHIF build, which `make test` installs."""

import pytest
from django.conf import settings

from imaging.viewer.install import PINNED, installed_release


def require_installed_viewer() -> None:
    """Fail, never skip, when OHIF is missing: a viewer that cannot be installed is a broken build."""
    installed = installed_release(settings.PALISADE_VIEWER_DIR)
    if installed != PINNED:
        found = f"{installed.spec} is" if installed else "nothing is"
        pytest.fail(
            f"The OHIF viewer {PINNED.spec} is not installed in {settings.PALISADE_VIEWER_DIR} ({found} "
            "installed there): run `make viewer` (or `.venv/bin/python manage.py install_viewer`; it needs "
            "npm and the npm registry).",
            pytrace=False,
        )
