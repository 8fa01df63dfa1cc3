import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

from audit import journal  # noqa: E402 (needs configured settings)
from imaging.dicomweb.body_limits import BoundedDicomwebBody  # noqa: E402 (needs configured settings)
from portal.lifespan import Lifespan  # noqa: E402 (needs configured settings)
from portal.sqlite_wal import hold_open  # noqa: E402 (needs configured settings)

hold_open()
journal.start()
application = Lifespan(BoundedDicomwebBody(django_application))
