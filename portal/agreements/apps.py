from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AgreementsConfig(AppConfig):
    name = "portal.agreements"
    label = "agreements"
    verbose_name = "Agreements"

    def ready(self) -> None:
        from portal.agreements.first_versions import publish_after_flush

        post_migrate.connect(publish_after_flush, sender=self, dispatch_uid="agreements-first-versions")
