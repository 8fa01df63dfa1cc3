"""What a clinic's members and patients are told about their data, read from the live configuration:
where it is stored (settings.PALISADE_STORAGE and the clinic's regions), how it is encrypted (the key
provider and the clinic's key versions), who may open it (accounts.policy's role matrix), how long it
is kept (the clinic's retention rules), the agreements in force, and whom to tell about a breach.
Nothing here is typed: change the configuration and the page changes. Call inside the clinic's scope.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from accounts import policy
from imaging.crypto.models import TenantKey
from imaging.retention.models import RetentionRule
from portal.agreements import services as agreements
from portal.models import Tenant

CIPHER = "AES-256-GCM"
_PROVIDERS = {
    "file": "a master key kept in a file on the portal's servers, readable by the portal alone",
    "pkcs11": "a master key held in a hardware security module (PKCS#11), which never releases it",
}


@dataclass(frozen=True)
class Region:
    name: str
    jurisdiction: str
    purpose: str
    kind: str


@dataclass(frozen=True)
class KeyInfo:
    cipher: str
    provider: str
    provider_kind: str
    version: int | None
    created_at: datetime | None

    @property
    def rotated(self) -> bool:
        return bool(self.version and self.version > 1)


@dataclass(frozen=True)
class RoleAccess:
    role: str
    label: str
    capabilities: list[str]


@dataclass(frozen=True)
class Agreement:
    kind: str
    label: str
    version: int
    signed_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Transparency:
    regions: list[Region]
    keys: KeyInfo
    roles: list[RoleAccess]
    retention: list[str]
    agreements: list[Agreement]
    contact_name: str
    contact_email: str


def regions_of(tenant: Tenant) -> list[Region]:
    def describe(name: str, purpose: str) -> Region:
        config = settings.PALISADE_STORAGE.get(name, {})
        kind = "S3 object storage" if config.get("backend") == "s3" else "encrypted file storage"
        return Region(name, config.get("jurisdiction", "unknown"), purpose, kind)

    return [describe(tenant.home_region, "home")] + [
        describe(name, "replica") for name in tenant.replica_regions
    ]


def key_info(tenant: Tenant) -> KeyInfo:
    # Read, never created here: a clinic that stored nothing yet has no key version.
    current = TenantKey.objects.filter(tenant=tenant).order_by("-version").first()
    kind = settings.PALISADE_KEY_PROVIDER
    return KeyInfo(
        cipher=CIPHER,
        provider=_PROVIDERS.get(kind, kind),
        provider_kind=kind,
        version=current.version if current else None,
        created_at=current.created_at if current else None,
    )


def role_access() -> list[RoleAccess]:
    return [
        RoleAccess(role.value, role.label, capabilities)
        for role, capabilities in policy.role_capabilities().items()
    ]


def retention_rules(tenant: Tenant) -> list[str]:
    rules = RetentionRule.objects.filter(tenant=tenant, is_active=True).order_by("modality")
    return [
        f"{rule.modality or 'Every modality'}: kept {rule.years_after_study} years after the study; a "
        f"minor's (under {rule.age_of_majority}) until they are {rule.minor_until_age} if that is later."
        for rule in rules
    ]


def agreements_in_force(tenant: Tenant, now: datetime) -> list[Agreement]:
    # Kinds, versions and dates only: the signer's name and e-mail stay with the clinic's admins.
    return [
        Agreement(kind, row.text.get_kind_display(), row.text.version, row.signed_at, row.expires_at)
        for kind, row in sorted(agreements.in_force(tenant, now).items())
    ]


def transparency(tenant: Tenant, now: datetime | None = None) -> Transparency:
    now = now or timezone.now()
    return Transparency(
        regions=regions_of(tenant),
        keys=key_info(tenant),
        roles=role_access(),
        retention=retention_rules(tenant),
        agreements=agreements_in_force(tenant, now),
        contact_name=tenant.privacy_contact_name,
        contact_email=tenant.privacy_contact_email,
    )
