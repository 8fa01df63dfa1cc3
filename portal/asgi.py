import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# As django.core.asgi.get_asgi_application does, with the portal's handler (portal/asgi_handler.py).
django.setup(set_prefix=False)

from portal.asgi_handler import PortalASGIHandler  # noqa: E402 (needs configured settings)

django_application = PortalASGIHandler()

from audit import journal  # noqa: E402 (needs configured settings)
from imaging.dicomweb.body_limits import BoundedDicomwebBody  # noqa: E402 (needs configured settings)
from portal.lifespan import Lifespan  # noqa: E402 (needs configured settings)
from portal.sqlite_wal import hold_open  # noqa: E402 (needs configured settings)

hold_open()
journal.start()
application = Lifespan(
    BoundedDicomwebBody(django_application), on_shutdown=[journal.stop, django_application.threads.shutdown]
)
# What the imports above made lives as long as the process: keep it out of every garbage collection,
# which would otherwise walk it (tens of ms with Django loaded) and stall a request.
gc.freeze()
