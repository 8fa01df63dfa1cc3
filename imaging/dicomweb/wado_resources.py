"""What every WADO-RS view shares: finding the study, series or instance of the URL that the caller may
see, the audit of each retrieval and refusal, and the stored objects to read.

Anything missing, of another clinic, or not visible to the caller answers the same 404 (DESIGN.md,
Tenancy) and is audited as ACCESS_DENIED with the identifiers asked for; a retrieval is audited as
RETRIEVE before its first byte is sent, so that a client hanging up mid-stream leaves its trace.
"""

from dataclasses import dataclass
from typing import NoReturn

from rest_framework.exceptions import NotFound
from rest_framework.request import Request

import audit
from accounts import policy
from audit.models import AuditAction, Outcome
from imaging.dicomweb.base import DicomwebView
from imaging.models import Instance, Series, StoredObject, Study


@dataclass(frozen=True)
class Target:
    """The resource of a WADO-RS URL: a study, optionally narrowed to a series and an instance."""

    study: Study
    instances: list[Instance]
    level: str

    def stored_objects(self) -> list[StoredObject]:
        """The current version of each instance (StoredObject.Meta.ordering: highest version first)."""
        current = []
        for instance in self.instances:
            stored = instance.versions.select_related("instance__series__study").first()
            if stored is not None:
                current.append(stored)
        return current


class WadoView(DicomwebView):
    """Any member may reach the clinic's WADO-RS routes; each study is then decided by VIEW_STUDY."""

    required_action = policy.Action.ENTER_TENANT

    def refuse(self, request: Request, url_kwargs: dict) -> NoReturn:
        if request.method in ("GET", "HEAD"):
            self.deny(request, "not_member", url_kwargs)
        super().refuse(request, url_kwargs)

    def target(self, request: Request, level: str, **uids: str) -> Target:
        """The study (series, instance) named by `uids`, else 404 after auditing the refusal."""
        study = Study.objects.select_related("patient", "tenant").filter(study_instance_uid=uids["study_uid"])
        found = study.first()
        if found is None:
            self.deny(request, "not_found", uids)
        if not policy.can(request.user, policy.Action.VIEW_STUDY, found):
            self.deny(request, "not_visible", uids)
        instances = Instance.objects.filter(series__study=found).select_related("series")
        if "series_uid" in uids:
            if not Series.objects.filter(study=found, series_instance_uid=uids["series_uid"]).exists():
                self.deny(request, "not_found", uids)
            instances = instances.filter(series__series_instance_uid=uids["series_uid"])
        if "instance_uid" in uids:
            instances = instances.filter(sop_instance_uid=uids["instance_uid"])
        ordered = list(instances.order_by("series__series_number", "series__id", "instance_number", "id"))
        if "instance_uid" in uids and not ordered:
            self.deny(request, "not_found", uids)
        return Target(found, ordered, level)

    def deny(self, request: Request, reason: str, uids: dict) -> None:
        membership = policy.membership(request.user, request.tenant)
        audit.record(
            AuditAction.ACCESS_DENIED,
            request=request,
            actor_role=membership.role if membership else "",
            outcome=Outcome.FAILURE,
            object_type="study",
            object_ids=[value for key, value in sorted(uids.items()) if key.endswith("_uid")],
            details={"service": "wado-rs", "reason": reason},
        )
        raise NotFound

    def audit_retrieve(
        self, request: Request, target: Target, transaction: str, instance_uids: list[str]
    ) -> None:
        audit.record(
            AuditAction.RETRIEVE,
            request=request,
            actor_role=policy.membership(request.user, request.tenant).role,
            object_type=target.level,
            object_ids=instance_uids,
            details={
                "service": "wado-rs",
                "transaction": transaction,
                "study": target.study.study_instance_uid,
                "token": getattr(request.auth, "prefix", None),
            },
        )
