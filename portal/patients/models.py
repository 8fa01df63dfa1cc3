from django.conf import settings
from django.db import models

from portal.models import TenantOwned


class PatientAccessCode(TenantOwned):
    """A one-use code with which a patient makes (or links) their portal account to their Patient record.

    Printed on the visit sheet or e-mailed; only its keyed hash is kept (portal.patients.codes), so a copy
    of the database joins nobody. The patient brings it with their date of birth to /patients/join/."""

    patient = models.ForeignKey("imaging.Patient", on_delete=models.CASCADE, related_name="access_codes")
    code_hash = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="Empty until an e-mailed code has been made."
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    email = models.EmailField(blank=True, help_text="Where the code was e-mailed, if it was.")
    failed_attempts = models.PositiveSmallIntegerField(default=0, help_text="Wrong dates of birth in a row.")
    locked_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        # Identifiers only: model strings end up in logs and admin messages.
        return f"Access code #{self.pk} of patient #{self.patient_id}"
