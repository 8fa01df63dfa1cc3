"""What every WADO-RS view shares: finding the study, series or instance of the URL that the caller may
see, the audit of each retrieval and refusal, and the stored objects to read.

Anything missing, of another clinic, or not visible to the caller answers the same 404 (DESIGN.md,
Tenancy) and is audited as ACCESS_DENIED with the identifiers asked for; a retrieval is audited as
RETRIEVE before its first byte is sent, so that a client hanging up mid-stream leaves its trace.
"""

from dataclasses import dataclass, field
from typing import NoReturn

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
        versions = StoredObject.objects.filter(instance__series__study=self.study)
        if self.series_uid is not None:
            versions = versions.filter(instance__series__series_instance_uid=self.series_uid)
        if self.instance_uid is not None:
            versions = versions.filter(instance__sop_instance_uid=self.instance_uid)
        # The columns reading needs, not the hashes and times: a study is hundreds of rows, and
        # building its model instances is most of a retrieval's time before the first byte.
        versions = (
            versions.select_related("instance__series", "wrapping_tenant_key")
            .defer(*_NOT_READ)
            .order_by(*(f"instance__{field}" for field in _INSTANCE_ORDER), "-version")
        )
        current: list[StoredObject] = []
        series_by_id: dict[int, Series] = {}
        for stored in versions:
            if current and current[-1].instance_id == stored.instance_id:
                continue  # an older version
            # One Series object per series, which has the study already read and checked by the policy.
            series = series_by_id.setdefault(stored.instance.series_id, stored.instance.series)
            series.study = self.study
            stored.instance.series = series
            current.append(stored)
        return current


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

# Columns of a stored object and its instance and series that no WADO-RS answer reads.
_NOT_READ = (
    "plaintext_sha256",
    "ciphertext_sha256",
    "created_at",
    "instance__created_at",
    "instance__series__created_at",
    "instance__series__description",
    "instance__series__body_part_examined",
)


# The order of a study's instances: by series, then by instance number.
_INSTANCE_ORDER = ("series__series_number", "series__id", "instance_number", "id")


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
        study = Study.objects.select_related("patient", "tenant").filter(study_instance_uid=uids["study_uid"])
        found = study.first()
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
