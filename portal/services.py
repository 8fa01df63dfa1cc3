from django.db import transaction

from portal import regions
from portal.models import Tenant, default_ae_title


@transaction.atomic
def create_tenant(
    slug: str, name: str, *, region: str | None = None, replica_regions: list[str] | None = None
) -> Tenant:
    """Create a clinic in a configured home region, with replicas only inside its jurisdiction."""
    tenant = Tenant(
        slug=slug,
        name=name,
        ae_title=default_ae_title(slug),
        home_region=region or regions.default_region(),
        replica_regions=list(replica_regions or []),
    )
    tenant.full_clean()
    tenant.save()
    return tenant
