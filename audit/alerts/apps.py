from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "audit.alerts"
    label = "alerts"
    verbose_name = "Alerts"
