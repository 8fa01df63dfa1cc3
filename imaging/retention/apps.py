from django.apps import AppConfig

ENFORCEMENT_INTERVAL_SECONDS = 24 * 3600.0


class RetentionConfig(AppConfig):
    name = "imaging.retention"
    label = "retention"
    verbose_name = "Retention and erasure"

    def ready(self) -> None:
        # Daily enforcement, scheduled here so that the app brings its own beat entry (Celery's
        # add_periodic_task keeps it until the app is configured).
        from portal.celery import app

        app.add_periodic_task(
            ENFORCEMENT_INTERVAL_SECONDS,
            app.signature("imaging.retention.tasks.enforce_retention_rules"),
            name="retention-enforcement",
        )
