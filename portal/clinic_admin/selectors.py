"""Reading a clinic's administration: its sharing limits and the links of its settings hub."""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from accounts import policy
from accounts.models import User
from portal.clinic_admin.models import SharingPolicy
from portal.models import Tenant
from portal.tenancy import tenant_scope


def sharing_policy_of(tenant: Tenant) -> SharingPolicy:
    """The clinic's sharing limits; an unsaved row with the platform's limits when it set none."""
    with tenant_scope(tenant):
        return SharingPolicy.objects.filter(tenant=tenant).first() or SharingPolicy(tenant=tenant)


@dataclass(frozen=True)
class HubLink:
    label: str
    url: str
    description: str
    testid: str


# (URL name, label, what it is for, the action the page itself requires). Pages being built by others
# (members, DICOM peers, agreements, onboarding) appear once their URL exists: until then reverse()
# fails and the hub leaves them out.
_HUB_PAGES = [
    ("clinic-members", "Members", "Invite staff, change roles, remove members.", policy.Action.MANAGE_CLINIC),
    (
        "dicom-peers",
        "DICOM peers",
        "The AE titles that may send studies, and their TLS certificates.",
        policy.Action.MANAGE_CLINIC,
    ),
    (
        "agreements",
        "Agreements",
        "BAA, DPA and terms: which are in force and when they expire.",
        policy.Action.MANAGE_CLINIC,
    ),
    (
        "onboarding-checklist",
        "Onboarding checklist",
        "What is left before the clinic goes live.",
        policy.Action.MANAGE_CLINIC,
    ),
    (
        "clinic-security-policy",
        "Security policy",
        "Second factor by role, session timeouts, passwords.",
        policy.Action.MANAGE_CLINIC,
    ),
    (
        "clinic-sharing-policy",
        "Sharing policy",
        "How long shares and share links may last, and downloads.",
        policy.Action.MANAGE_CLINIC,
    ),
    (
        "clinic-consents",
        "Consents",
        "Consent texts, and which actions need the patient's consent.",
        policy.Action.MANAGE_CONSENTS,
    ),
    (
        "retention",
        "Retention and erasure",
        "Retention rules, legal holds, erasure requests, certificates.",
        policy.Action.MANAGE_RETENTION,
    ),
    (
        "alert-settings",
        "Alert settings",
        "Thresholds of the audit trail's alert rules, and the webhook.",
        policy.Action.MANAGE_ALERT_RULES,
    ),
    (
        "clinic-api-tokens",
        "API tokens",
        "The members' API tokens, and revoking them.",
        policy.Action.MANAGE_API_TOKENS,
    ),
    (
        "clinic-shares",
        "Shares",
        "Every active share and per-study right of the clinic.",
        policy.Action.MANAGE_SHARES,
    ),
    (
        "research-projects",
        "Research",
        "Research projects and their de-identified exports.",
        policy.Action.MANAGE_RESEARCH,
    ),
    ("audit-review", "Audit trail", "Who did what, when; exports.", policy.Action.VIEW_AUDIT),
]


def hub_links(user: User, tenant: Tenant) -> list[HubLink]:
    """The administration pages of `tenant` that exist and that `user` may open."""
    links = []
    for url_name, label, description, action in _HUB_PAGES:
        if not policy.can(user, action, tenant):
            continue
        try:
            url = reverse(url_name, kwargs={"tenant_slug": tenant.slug})
        except NoReverseMatch:
            continue
        links.append(HubLink(label, url, description, f"hub-{url_name}"))
    return links
