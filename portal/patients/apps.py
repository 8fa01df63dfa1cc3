from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "portal.patients"
    label = "patients"
    verbose_name = "Patients"
