from django.core.validators import RegexValidator
from django.db import models
from django_scopes import ScopedManager

from portal import regions

AE_TITLE_VALIDATOR = RegexValidator(
    r"^[ -~]{1,16}$", "An AE title is 1 to 16 printable ASCII characters (PS3.5 AE value representation)."
)


def default_ae_title(slug: str) -> str:
    return slug.upper()[:16]


class Tenant(models.Model):
    """A clinic. Every row holding PHI belongs to exactly one tenant."""

    slug = models.SlugField(max_length=40, unique=True, help_text="Appears in URLs: /t/<slug>/.")
    name = models.CharField(max_length=200)
    ae_title = models.CharField(
        "AE title",
        max_length=16,
        unique=True,
        validators=[AE_TITLE_VALIDATOR],
        help_text="Called AE title that routes DIMSE associations to this clinic.",
    )
    home_region = models.CharField(max_length=40)
    replica_regions = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Onboarding (portal.onboarding): where the clinic is, whom to tell about a suspected breach (shown
    # on its transparency page), and when it went live (the checklist shows until then).
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code.")
    privacy_contact_name = models.CharField(max_length=200, blank=True)
    privacy_contact_email = models.EmailField(blank=True)
    live_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def jurisdiction(self) -> str:
        return regions.jurisdiction_of(self.home_region)

    def clean(self) -> None:
        if not self.ae_title and self.slug:
            self.ae_title = default_ae_title(self.slug)
        regions.validate_residency(self.home_region, list(self.replica_regions))


class TenantOwned(models.Model):
    """Base of every tenant-owned model: queries outside a tenant scope raise ScopeError."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")

    objects = ScopedManager(tenant="tenant")

    class Meta:
        abstract = True


class ClinicSummary(TenantOwned):
    """Counts shown on the clinic dashboard, refreshed by a Celery task (see portal.tasks)."""

    patients = models.PositiveIntegerField(default=0)
    studies = models.PositiveIntegerField(default=0)
    instances = models.PositiveIntegerField(default=0)
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="one_summary_per_tenant")]

    def __str__(self) -> str:
        return f"Summary of tenant {self.tenant_id}"


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the periodic heartbeat; shown on dashboards and /readyz."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.hostname
