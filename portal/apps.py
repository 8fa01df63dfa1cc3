from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Clinics"

    def ready(self) -> None:
        from portal import tenancy

        tenancy.connect_signals()
