"""Wrapped keys. Only wrapped forms are stored; unwrapping needs the master key provider."""

from django.db import models

from imaging.models import Study
from portal.models import TenantOwned


class TenantKey(TenantOwned):
    """One version of a tenant's key-encryption key, wrapped by the master key. The highest
    version is current; older versions stay until no study key refers to them."""

    version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    master_key_id = models.CharField(max_length=200, help_text="The master key that wrapped this key.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="tenant_key_version_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return f"Key v{self.version} of tenant {self.tenant_id}"


class StudyKey(TenantOwned):
    """The data key of one study's blobs, wrapped by a tenant key and the study's secret in the key
    provider. Destroying that secret shreds the study, in this database and in every backup of it."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="data_key")
    tenant_key = models.ForeignKey(TenantKey, on_delete=models.PROTECT, related_name="study_keys")
    secret_ref = models.CharField(
        max_length=64, help_text="Names the study's secret in the key provider (never the secret itself)."
    )
    wrapped_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Data key of study #{self.study_id}"
