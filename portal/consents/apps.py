from django.apps import AppConfig


class ConsentsConfig(AppConfig):
    name = "portal.consents"
    label = "consents"
    verbose_name = "Consents"
