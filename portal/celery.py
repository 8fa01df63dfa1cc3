import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect(dispatch_uid="palisade-worker-without-connection-pool")
def _one_connection_per_task(**kwargs) -> None:
    """A worker opens a database connection per task, without the web server's psycopg pool.

    Celery's Django fix-up closes the connection after every task, and in prefork children the whole
    pool too (a pool must not cross a fork), so a pool would reuse nothing here: each task would open
    min_size connections in the background and throw them away, and the connection it gave back as the
    pool closed would be left for the garbage collector. Runs in the worker's main process before it
    forks its children and before any connection is opened."""
    from django.conf import settings

    for database in settings.DATABASES.values():
        database.get("OPTIONS", {}).pop("pool", None)
