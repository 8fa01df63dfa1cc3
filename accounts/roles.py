from django.db import models


class Role(models.TextChoices):
    """A member's role in one clinic (DESIGN.md, "Who uses it")."""

    TENANT_ADMIN = "tenant_admin", "Clinic admin"
    TECHNOLOGIST = "technologist", "Technologist"
    RADIOLOGIST = "radiologist", "Radiologist"
    REFERRING_PHYSICIAN = "referring_physician", "Referring doctor"
    BILLING = "billing", "Billing"
    AUDITOR = "auditor", "Privacy officer"
    PATIENT = "patient", "Patient"
