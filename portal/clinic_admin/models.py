"""The clinic policies that had nowhere to live: limits on sharing. (Authentication rules live in
accounts.SecurityPolicy, retention rules in imaging.retention, consent requirements in portal.consents.)"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from portal.models import TenantOwned

# The platform's own ceilings (portal.sharing): a clinic may only ask for less.
PLATFORM_LINK_MAX_DAYS = 30
PLATFORM_SHARE_MAX_DAYS = 365


class SharingPolicy(TenantOwned):
    """How far a clinic's members may share, within the platform's limits; one per clinic.

    A clinic without a row is held to the platform's limits (the field defaults). Enforced by
    portal.sharing.services.share_with_doctor and portal.sharing.links.services.create_link.
    """

    link_max_days = models.PositiveSmallIntegerField(
        "longest share-link lifetime (days)",
        default=PLATFORM_LINK_MAX_DAYS,
        validators=[MinValueValidator(1), MaxValueValidator(PLATFORM_LINK_MAX_DAYS)],
        help_text="A share link ends at most this many days after it is made "
        f"(1 to {PLATFORM_LINK_MAX_DAYS}).",
    )
    links_may_allow_download = models.BooleanField(
        "share links may allow downloads",
        default=True,
        help_text="Whether a share link may let its visitor download the images.",
    )
    share_max_days = models.PositiveSmallIntegerField(
        "longest share with a doctor (days)",
        default=PLATFORM_SHARE_MAX_DAYS,
        validators=[MinValueValidator(1), MaxValueValidator(PLATFORM_SHARE_MAX_DAYS)],
        help_text="A share with a referring doctor lasts at most this many days "
        f"(1 to {PLATFORM_SHARE_MAX_DAYS}).",
    )
    shares_may_allow_download = models.BooleanField(
        "shares with doctors may allow downloads",
        default=True,
        help_text="Whether a share with a referring doctor may let them download the images.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sharing policy"
        verbose_name_plural = "sharing policies"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="one_sharing_policy_per_tenant")]

    def __str__(self) -> str:
        return f"Sharing policy of tenant {self.tenant_id}"
