"""What management commands share: one-line failure reasons, as the design's contract asks."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from portal.models import Tenant


def validation_failure(exc: ValidationError) -> CommandError:
    if hasattr(exc, "error_dict"):
        parts = [
            " ".join(messages) if field == "__all__" else f"{field}: {' '.join(messages)}"
            for field, messages in exc.message_dict.items()
        ]
    else:
        parts = exc.messages
    return CommandError("; ".join(parts))


def tenant_by_slug(slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise CommandError(f"No tenant with slug {slug!r}.") from None
