"""What every WADO-RS view shares: finding the study, series or instance of the URL that the caller may
see, the audit of each retrieval and refusal, and the stored objects to read.

Anything missing, of another clinic, or not visible to the caller answers the same 404 (DESIGN.md,
Tenancy) and is audited as ACCESS_DENIED with the identifiers asked for; a retrieval is audited as
RETRIEVE before its first byte is sent, so that a client hanging up mid-stream leaves its trace.
"""

from dataclasses import dataclass, field
from typing import NoReturn

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

import audit
from accounts import policy
from audit.models import AuditAction, Outcome
from imaging.crypto.models import TenantKey
from imaging.dicomweb.base import DicomwebView
from imaging.models import Instance, Patient, Series, StoredObject, Study
from portal.compiled_query import INTEGER, TEXT, CompiledQuery, columns, instances
from portal.models import Tenant


@dataclass(frozen=True)
class Target:
    """The resource of a WADO-RS URL: a study, optionally narrowed to a series and an instance.
    `instances` holds the instance at instance level; the stored objects name those of the others."""

    study: Study
    instances: list[Instance]
    level: str
    series_uid: str | None = None
    instance_uid: str | None = None
    # Already read with the instance (WadoView.target at instance level).
    known_stored: list[StoredObject] | None = field(default=None, compare=False, repr=False)

    def stored_objects(self) -> list[StoredObject]:
        """The current version (the highest) of each instance of the target, in the study's order: one
        query for the whole target, with what reading them needs (instance, series, wrapping key)."""
        if self.known_stored is not None:
            return list(self.known_stored)
        narrowed = {"series": self.series_uid, "instance": self.instance_uid}
        query = _VERSIONS[tuple(uid is not None for uid in narrowed.values())]
        uids = (uid for uid in narrowed.values() if uid is not None)
        rows = query.rows(self.study.tenant_id, self.study.pk, *uids)
        current: list[StoredObject] = []
        # One Series object per series, which has the study already read and checked by the policy.
        series_by_id: dict[int, Series] = {}
        for row in rows:
            stored, instance = instances(row[:_SERIES_AT], *_VERSION_MODELS[:2])
            if current and current[-1].instance_id == stored.instance_id:
                continue  # an older version
            series = series_by_id.get(instance.series_id)
            if series is None:
                (series,) = instances(row[_SERIES_AT:_KEY_AT], _VERSION_MODELS[2])
                series.study = self.study
                series_by_id[series.pk] = series
            instance.series = series
            stored.instance = instance
            (stored.wrapping_tenant_key,) = instances(row[_KEY_AT:], _VERSION_MODELS[3])
            current.append(stored)
        return current


# What a retrieval reads of each stored object, its instance, series and wrapping key (not the hashes
# and times): a study is hundreds of rows, and making their model objects is most of a retrieval's
# time before the first byte.
_VERSION_MODELS = (
    (StoredObject, ("plaintext_sha256", "ciphertext_sha256", "created_at")),
    (Instance, ("created_at",)),
    (Series, ("created_at", "description", "body_part_examined")),
    (TenantKey, ()),
)
_VERSION_PATHS = ("", "instance", "instance__series", "wrapping_tenant_key")
_VERSION_COLUMNS = [
    columns(model, path, exclude=exclude)
    for (model, exclude), path in zip(_VERSION_MODELS, _VERSION_PATHS, strict=True)
]
_SERIES_AT = len(_VERSION_COLUMNS[0]) + len(_VERSION_COLUMNS[1])
_KEY_AT = _SERIES_AT + len(_VERSION_COLUMNS[2])
# The order of a study's instances: by series, then by instance number; the newest version first.
_INSTANCE_ORDER = ("series__series_number", "series__id", "instance_number", "id")


def _versions(
    tenant_id: int, study_id: int, series_uid: str | None = None, instance_uid: str | None = None
) -> QuerySet:
    versions = StoredObject.objects.filter(tenant_id=tenant_id, instance__series__study_id=study_id)
    if series_uid is not None:
        versions = versions.filter(instance__series__series_instance_uid=series_uid)
    if instance_uid is not None:
        versions = versions.filter(instance__sop_instance_uid=instance_uid)
    return versions.order_by(*(f"instance__{field}" for field in _INSTANCE_ORDER), "-version").values_list(
        *(name for names in _VERSION_COLUMNS for name in names)
    )


def _narrowed(series: bool, instance: bool) -> CompiledQuery:
    """Every version of a study's objects, or of one series and/or instance of it: the UIDs named
    follow the study as text placeholders, the series' first."""

    def build(tenant_id: int, study_id: int, *uids: str) -> QuerySet:
        named = iter(uids)
        return _versions(
            tenant_id, study_id, next(named) if series else None, next(named) if instance else None
        )

    return CompiledQuery(build, INTEGER, INTEGER, *[TEXT] * (series + instance), tenant_owned=True)


# Compiled once per shape (portal/compiled_query.py), keyed by (series named, instance named).
_VERSIONS = {
    (series, instance): _narrowed(series, instance) for series in (False, True) for instance in (False, True)
}


# The study of a URL with its patient and clinic, read for every WADO-RS request.
_STUDY_MODELS = (Study, Patient, Tenant)
_STUDY = CompiledQuery(
    lambda tenant_id, study_uid: Study.objects.filter(
        tenant_id=tenant_id, study_instance_uid=study_uid
    ).values_list(*columns(Study), *columns(Patient, "patient"), *columns(Tenant, "tenant")),
    INTEGER,
    TEXT,
    tenant_owned=True,
)


def _study(row: tuple) -> Study:
    study, patient, tenant = instances(row, *_STUDY_MODELS)
    study.patient, study.tenant = patient, tenant
    return study


# The current version of one instance, with everything its retrieval reads: a viewer asks for frames
# one instance at a time, and building this query cost more than running it (portal/compiled_query.py).
_STORED_INSTANCE_MODELS = (StoredObject, Instance, Series, Study, Patient, Tenant, TenantKey)
_STORED_INSTANCE = CompiledQuery(
    lambda tenant_id, study_uid, series_uid, instance_uid: (
        StoredObject.objects.filter(
            tenant_id=tenant_id,
            instance__sop_instance_uid=instance_uid,
            instance__series__series_instance_uid=series_uid,
            instance__series__study__study_instance_uid=study_uid,
        )
        .order_by("-version")
        .values_list(
            *columns(StoredObject),
            *columns(Instance, "instance"),
            *columns(Series, "instance__series"),
            *columns(Study, "instance__series__study"),
            *columns(Patient, "instance__series__study__patient"),
            *columns(Tenant, "instance__series__study__tenant"),
            *columns(TenantKey, "wrapping_tenant_key"),
        )[:1]
    ),
    INTEGER,
    TEXT,
    TEXT,
    TEXT,
    tenant_owned=True,
)


class WadoView(DicomwebView):
    """Any member may reach the clinic's WADO-RS routes; each study is then decided by VIEW_STUDY."""

    required_action = policy.Action.ENTER_TENANT

    def refuse(self, request: Request, url_kwargs: dict) -> NoReturn:
        if request.method in ("GET", "HEAD"):
            self.deny(request, "not_member", url_kwargs)
        super().refuse(request, url_kwargs)

    def target(self, request: Request, level: str, **uids: str) -> Target:
        """The study (series, instance) named by `uids`, else 404 after auditing the refusal."""
        if "instance_uid" in uids and "series_uid" in uids:
            found = self._stored_instance(request, level, uids)
            if found is not None:
                return found
        rows = _STUDY.rows(request.tenant.pk, uids["study_uid"])
        found = _study(rows[0]) if rows else None
        if found is None:
            self.deny(request, "not_found", uids)
        if not policy.can(request.user, policy.Action.VIEW_STUDY, found):
            self.deny(request, "not_visible", uids)
        series_uid, instance_uid = uids.get("series_uid"), uids.get("instance_uid")
        if instance_uid is None:
            # A study's or series' instances are read with their stored objects (Target.stored_objects).
            if series_uid is not None and not found.series.filter(series_instance_uid=series_uid).exists():
                self.deny(request, "not_found", uids)
            return Target(found, [], level, series_uid)
        instance = (
            Instance.objects.filter(series__study=found, sop_instance_uid=instance_uid)
            .filter(**({"series__series_instance_uid": series_uid} if series_uid is not None else {}))
            .select_related("series")
            .first()
        )
        if instance is None:
            self.deny(request, "not_found", uids)
        instance.series.study = found
        return Target(found, [instance], level, series_uid, instance_uid)

    def _stored_instance(self, request: Request, level: str, uids: dict) -> Target | None:
        """An instance and its current version in one query (a viewer asks for frames one instance at a
        time). None when there is no such stored instance: `target` then finds out why, as for any
        other resource, and audits the refusal."""
        rows = _STORED_INSTANCE.rows(
            request.tenant.pk, uids["study_uid"], uids["series_uid"], uids["instance_uid"]
        )
        if not rows:
            return None
        found = instances(rows[0], *_STORED_INSTANCE_MODELS)
        current, instance, series, study, patient, tenant, tenant_key = found
        study.patient, study.tenant = patient, tenant
        series.study = study
        instance.series = series
        current.instance, current.wrapping_tenant_key = instance, tenant_key
        if not policy.can(request.user, policy.Action.VIEW_STUDY, study):
            self.deny(request, "not_visible", uids)
        return Target(
            study, [current.instance], level, uids["series_uid"], uids["instance_uid"], known_stored=[current]
        )

    def deny(self, request: Request, reason: str, uids: dict) -> None:
        audit.record(
            AuditAction.ACCESS_DENIED,
            request=request,
            actor_role=self.actor_role(request),
            outcome=Outcome.FAILURE,
            object_type="study",
            object_ids=[value for key, value in sorted(uids.items()) if key.endswith("_uid")],
            details={"service": "wado-rs", "reason": reason},
        )
        raise NotFound

    def audit_retrieve(
        self, request: Request, target: Target, transaction: str, instance_uids: list[str]
    ) -> None:
        audit.record_access(
            AuditAction.RETRIEVE,
            request=request,
            actor_role=self.actor_role(request),
            object_type=target.level,
            object_ids=instance_uids,
            details={
                "service": "wado-rs",
                "transaction": transaction,
                "study": target.study.study_instance_uid,
                "token": getattr(request.auth, "prefix", None),
            },
        )
