"""Adding, changing and removing a clinic's retention rules, bounded and audited (POLICY_CHANGED with
`{"policy": "retention", ...}`). Holds are placed in holds.py, erasures decided in erasure.py."""

import re

from django.db import IntegrityError, transaction
from django.http import HttpRequest

import audit
from audit.models import AuditAction
from imaging.retention.models import DestructionCertificate, RetentionRule
from portal.models import Tenant

# Bounds of a rule (docs/retention.md): no clinic keeps a study for less than a year through a rule
# (erasure requests are for that), and no one is a minor past 21.
YEARS_AFTER_STUDY = (1, 100)
AGE_OF_MAJORITY = (16, 21)
MINOR_UNTIL_AGE = (16, 50)
RULE_FIELDS = ["modality", "years_after_study", "age_of_majority", "minor_until_age", "is_active"]
# PS3.3 C.7.3.1.1.1: modality codes are short upper-case defined terms (CT, MR, DX, …).
_MODALITY = re.compile(r"^[A-Z0-9]{0,16}$")


class RetentionRuleRefused(ValueError):
    """A rule that may not be saved as asked: `errors` maps each field (or "") to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def rule_errors(values: dict) -> dict[str, str]:
    """Why each of `values` (RULE_FIELDS) is not allowed; empty when all are."""
    errors = {}
    if not _MODALITY.match(values.get("modality") or ""):
        errors["modality"] = "A DICOM modality code: capital letters and digits (CT, MR, DX), or empty."
    for field, (low, high) in [
        ("years_after_study", YEARS_AFTER_STUDY),
        ("age_of_majority", AGE_OF_MAJORITY),
        ("minor_until_age", MINOR_UNTIL_AGE),
    ]:
        value = values.get(field)
        if value is None or not low <= value <= high:
            errors[field] = f"Choose between {low} and {high}."
    if not errors and values["minor_until_age"] < values["age_of_majority"]:
        errors["minor_until_age"] = "A minor's studies are kept at least until they come of age."
    return errors


def add_rule(
    tenant: Tenant, values: dict, *, request: HttpRequest | None, actor_role: str = ""
) -> RetentionRule:
    """A new rule of the clinic. Call inside the tenant's scope."""
    values = _checked(values)
    try:
        with transaction.atomic():
            rule = RetentionRule.objects.create(tenant=tenant, **values)
            _record(
                rule, "added", {field: [None, values[field]] for field in RULE_FIELDS}, request, actor_role
            )
    except IntegrityError:
        raise RetentionRuleRefused({"modality": _duplicate(values["modality"])}) from None
    return rule


def change_rule(
    rule: RetentionRule, values: dict, *, request: HttpRequest | None, actor_role: str = ""
) -> dict[str, list]:
    """Change `rule` to `values`; returns what changed (nothing recorded when nothing did)."""
    values = _checked(values)
    changed = {
        field: [getattr(rule, field), values[field]]
        for field in RULE_FIELDS
        if getattr(rule, field) != values[field]
    }
    if not changed:
        return changed
    try:
        with transaction.atomic():
            for field, (_, new) in changed.items():
                setattr(rule, field, new)
            rule.save()
            _record(rule, "changed", changed, request, actor_role)
    except IntegrityError:
        raise RetentionRuleRefused({"modality": _duplicate(values["modality"])}) from None
    return changed


def remove_rule(rule: RetentionRule, *, request: HttpRequest | None, actor_role: str = "") -> bool:
    """Delete `rule`; True if deleted. A rule that a certificate of destruction cites is deactivated
    instead: the certificate's digest, in the audit trail, covers the rule's ID
    (erasure.certificate_digest)."""
    with transaction.atomic():
        if DestructionCertificate.objects.filter(rule=rule).exists():
            if rule.is_active:
                rule.is_active = False
                rule.save(update_fields=["is_active"])
                _record(rule, "deactivated", {"is_active": [True, False]}, request, actor_role)
            return False
        removed = {field: [getattr(rule, field), None] for field in RULE_FIELDS}
        _record(rule, "removed", removed, request, actor_role)
        rule.delete()
    return True


def _checked(values: dict) -> dict:
    values = {field: values.get(field) for field in RULE_FIELDS}
    values["modality"] = (values["modality"] or "").strip().upper()
    values["is_active"] = bool(values["is_active"])
    if errors := rule_errors(values):
        raise RetentionRuleRefused(errors)
    return values


def _duplicate(modality: str) -> str:
    return f"The clinic already has a rule for {modality or 'every modality'}: change that one."


def _record(
    rule: RetentionRule, change: str, changed: dict, request: HttpRequest | None, actor_role: str
) -> None:
    audit.record(
        AuditAction.POLICY_CHANGED,
        request=request,
        tenant=rule.tenant,
        actor_role=actor_role,
        object_type="retention_rule",
        object_ids=[str(rule.pk)],
        details={"policy": "retention", "rule": rule.pk, "change": change, "changed": changed},
    )
