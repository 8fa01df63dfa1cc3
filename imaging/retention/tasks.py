from celery import shared_task

from imaging.retention.rules import enforce_retention
from portal.models import Tenant
from portal.tenancy import all_tenants_scope


@shared_task
def enforce_retention_rules() -> int:
    """Run daily by beat: destroy every clinic's expired studies not on hold; returns how many."""
    with all_tenants_scope():
        tenants = list(Tenant.objects.filter(is_active=True).order_by("pk"))
    return sum(len(enforce_retention(tenant, dry_run=False).destroyed) for tenant in tenants)
