from django.apps import AppConfig


class ClinicAdminConfig(AppConfig):
    name = "portal.clinic_admin"
    label = "clinic_admin"
    verbose_name = "Clinic administration"
