"""Which studies have outlived their retention period, and the enforcement run that destroys them."""

import datetime
import logging
from dataclasses import dataclass

from django.utils import timezone

from imaging.models import Study
from imaging.retention.erasure import ErasureRefused, destroy_study
from imaging.retention.holds import held_study_ids
from imaging.retention.models import DestructionCertificate, RetentionRule
from portal.models import Tenant
from portal.tenancy import tenant_scope

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expired:
    """A study past its retention, with the rule and the date it expired (identifiers only)."""

    study_id: int
    study_instance_uid: str
    rule: RetentionRule
    keep_until: datetime.date
    held: bool


@dataclass(frozen=True)
class RetentionReport:
    tenant: Tenant
    expired: list[Expired]
    destroyed: list[DestructionCertificate]
    kept_unknown_dates: int


def keep_until(rule: RetentionRule, study_date: datetime.date, birth_date: datetime.date) -> datetime.date:
    """The last day `rule` keeps a study of `study_date` of a patient born on `birth_date`."""
    after_study = _add_years(study_date, rule.years_after_study)
    if _age_on(birth_date, study_date) >= rule.age_of_majority:
        return after_study
    # A minor's record is kept until they reach minor_until_age, or the adult period, whichever is later.
    return max(after_study, _add_years(birth_date, rule.minor_until_age))


def expired_studies(tenant: Tenant, today: datetime.date) -> tuple[list[Expired], int]:
    """The tenant's studies whose retention ended before `today`, held ones included (flagged), and
    how many studies no rule could date (unknown study or birth date: kept). Inside the tenant's scope."""
    rules = list(RetentionRule.objects.filter(tenant=tenant, is_active=True))
    if not rules:
        return [], 0
    held = held_study_ids(tenant)
    expired, undated = [], 0
    studies = Study.objects.filter(tenant=tenant).select_related("patient").prefetch_related("series")
    for study in studies.iterator(chunk_size=500):
        matching = _rules_for(study, rules)
        if not matching:
            continue
        if study.study_date is None or study.patient.birth_date is None:
            undated += 1
            continue
        # Several rules may match a study of several modalities: the longest period wins.
        until, rule = max(
            ((keep_until(rule, study.study_date, study.patient.birth_date), rule) for rule in matching),
            key=lambda pair: pair[0],
        )
        if until < today:
            expired.append(Expired(study.pk, study.study_instance_uid, rule, until, study.pk in held))
    return expired, undated


def enforce_retention(
    tenant: Tenant, *, dry_run: bool, today: datetime.date | None = None
) -> RetentionReport:
    """Destroy the tenant's expired studies not under a legal hold, through the erasure path, so that
    each gets its certificate. With `dry_run`, only report."""
    today = today or timezone.localdate()
    with tenant_scope(tenant):
        expired, undated = expired_studies(tenant, today)
        destroyed = []
        if not dry_run:
            for item in expired:
                if item.held:
                    continue
                try:
                    destroyed.append(
                        destroy_study(
                            Study.objects.get(pk=item.study_id),
                            basis=DestructionCertificate.Basis.RETENTION,
                            rule=item.rule,
                            reason=f"Retention ended on {item.keep_until.isoformat()} (rule {item.rule.pk}).",
                        )
                    )
                except ErasureRefused:
                    # Held since the list was made, or destroyed by a concurrent run: the run goes on.
                    logger.info(
                        "Retention run did not destroy study #%s (held or already gone).", item.study_id
                    )
    return RetentionReport(tenant, expired, destroyed, undated)


def _rules_for(study: Study, rules: list[RetentionRule]) -> list[RetentionRule]:
    modalities = {series.modality for series in study.series.all()} | set(
        filter(None, study.modalities_in_study.split("\\"))
    )
    return [rule for rule in rules if not rule.modality or rule.modality in modalities]


def _age_on(birth_date: datetime.date, day: datetime.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def _add_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)
