"""Research projects and the clinic's device list: define them (each change audited), unseal a project's
pseudonym key, and ask for a study's de-identified download. Exports are imaging.research.exports.

Every path out (an export, the per-study de-identified download, the `deidentify` command) goes through
the same three gates, in this order: the studies selected in the clinic; the patients who consent to
research use *now* (portal.consents, read when the export runs, so that a withdrawal made before then
leaves the patient out); and imaging.deid, which de-identifies or refuses each object. Audit events name
projects, exports and studies by identifiers, and count patients, never name them.
"""

from django.db import transaction
from django.http import HttpRequest

import audit
from accounts import policy
from audit.models import AuditAction
from imaging.deid import Profile, ProjectKeys
from imaging.downloads import services as downloads
from imaging.downloads.models import DownloadJob
from imaging.models import Study
from imaging.research import sealing
from imaging.research.deidentification import Deidentifier
from imaging.research.destinations import STOW_TOKEN
from imaging.research.models import DeviceMask, ResearchProject
from portal.consents.models import ConsentPurpose
from portal.consents.services import require_consent
from portal.models import Tenant

PSEUDONYM_KEY = "pseudonym key"
# What the project form may change, as the audit event lists them (values are not logged: a purpose
# or a recipient list is free text).
PROJECT_FIELDS = (
    "name",
    "purpose",
    "recipients",
    "options",
    "safe_private",
    "burned_in",
    "destination",
    "destination_tenant",
    "stow_url",
)


class ProjectRefused(ValueError):
    """A project change that cannot be made, with the reason to show."""


# --- Projects ---------------------------------------------------------------------------------------------


def save_project(
    *,
    tenant: Tenant,
    actor,
    values: dict,
    project: ResearchProject | None = None,
    stow_token: str | None = None,
    request: HttpRequest | None = None,
) -> ResearchProject:
    """Create or change a project of the scoped clinic from `values` (PROJECT_FIELDS). `stow_token`: a
    new bearer token, "" to remove it, None to keep it. The caller has asked the policy (MANAGE_RESEARCH)."""
    created = project is None
    project = project or ResearchProject(tenant=tenant, created_by=actor)
    changed = [name for name in PROJECT_FIELDS if getattr(project, name) != values[name]]
    for name in PROJECT_FIELDS:
        setattr(project, name, values[name])
    _check_project(project, actor)
    with transaction.atomic():
        if created:
            # The pseudonym key: made once, never shown, never changed (a change would unlink the
            # project's earlier exports from its later ones).
            project.secret_sealed = sealing.seal(
                tenant, ProjectKeys.generate().secret, row_id=project.pk, purpose=PSEUDONYM_KEY
            )
        if stow_token is not None:
            project.stow_token_sealed = (
                sealing.seal(tenant, stow_token.encode(), row_id=project.pk, purpose=STOW_TOKEN)
                if stow_token
                else b""
            )
            changed.append("stow_token")
        project.save()
        audit.record(
            AuditAction.RESEARCH_PROJECT_SAVED,
            request=request,
            actor=actor,
            tenant=tenant,
            actor_role=actor_role(actor, tenant),
            object_type="research_project",
            object_ids=[str(project.pk)],
            details={
                "created": created,
                "changed": sorted(set(changed)),
                "options": project.options,
                "destination": project.destination,
                "destination_tenant": project.destination_tenant.slug if project.destination_tenant else "",
            },
        )
    return project


def _check_project(project: ResearchProject, actor) -> None:
    if ResearchProject.objects.filter(name=project.name).exclude(pk=project.pk).exists():
        raise ProjectRefused("Another project of the clinic has this name.")
    try:
        project.profile()
    except ValueError as refusal:
        raise ProjectRefused(str(refusal)) from None
    if project.destination == ResearchProject.Destination.TENANT:
        target = project.destination_tenant
        if target is None or target.pk == project.tenant_id:
            raise ProjectRefused("Choose another clinic as the destination.")
        # Sending images into a clinic is that clinic's decision too: only someone who manages research
        # there may name it.
        if not policy.can(actor, policy.Action.MANAGE_RESEARCH, target):
            raise ProjectRefused("You do not manage research in the destination clinic.")
    else:
        project.destination_tenant = None
    if project.destination == ResearchProject.Destination.DICOMWEB and not project.stow_url:
        raise ProjectRefused("Give the STOW-RS address of the DICOMweb archive.")


def destination_clinics(actor, tenant: Tenant) -> list[Tenant]:
    """The other clinics where `actor` manages research: those a project of `tenant` may send to."""
    others = Tenant.objects.filter(is_active=True).exclude(pk=tenant.pk).order_by("name")
    return [other for other in others if policy.can(actor, policy.Action.MANAGE_RESEARCH, other)]


def project_keys(project: ResearchProject) -> ProjectKeys:
    """The project's pseudonym key, unsealed for one export step; never kept, shown or logged."""
    return ProjectKeys(
        sealing.unseal(
            project.tenant_id, bytes(project.secret_sealed), row_id=project.pk, purpose=PSEUDONYM_KEY
        )
    )


def save_device_mask(
    *, tenant: Tenant, actor, values: dict, request: HttpRequest | None = None
) -> DeviceMask:
    mask = DeviceMask.objects.create(tenant=tenant, **values)
    _record_mask(AuditAction.DEVICE_MASK_SAVED, mask, actor, request)
    return mask


def remove_device_mask(*, mask: DeviceMask, actor, request: HttpRequest | None = None) -> None:
    _record_mask(AuditAction.DEVICE_MASK_REMOVED, mask, actor, request)
    mask.delete()


def _record_mask(action: AuditAction, mask: DeviceMask, actor, request: HttpRequest | None) -> None:
    audit.record(
        action,
        request=request,
        actor=actor,
        tenant=mask.tenant,
        actor_role=actor_role(actor, mask.tenant),
        object_type="device_mask",
        object_ids=[str(mask.pk)],
        details={"manufacturer": mask.manufacturer, "model": mask.model, "flagged": mask.flagged},
    )


# --- The per-study de-identified download (imaging.downloads) ----------------------------------------------


def request_deidentified_download(
    user, study: Study, *, options: list[str], project: ResearchProject | None = None
) -> DownloadJob:
    """A download job of the study de-identified, with `options` or the project's. Raises ConsentRequired
    (with the message to show) unless the patient consents to research use. The caller has asked the
    policy (DOWNLOAD_DEIDENTIFIED)."""
    require_consent(study.patient, ConsentPurpose.RESEARCH_DEIDENTIFIED)
    if project is None:
        try:
            options = Profile.from_names(options).names()
        except ValueError as refusal:
            raise ProjectRefused(str(refusal)) from None
    return downloads.request_download(
        user,
        study,
        DownloadJob.Format.DEIDENTIFIED_DICOM_ZIP,
        deid_options=[] if project else options,
        deid_project=project,
    )


def deidentifier_for_download(job: DownloadJob) -> Deidentifier:
    """The engine set up for a de-identified study download. Consent is asked again as the archive is
    built (a withdrawal since the request wins): raises ConsentRequired. Without a project the key is
    fresh, so two ad-hoc downloads of a study cannot be linked to each other."""
    require_consent(job.study.patient, ConsentPurpose.RESEARCH_DEIDENTIFIED)
    project = job.deid_project
    if project is not None:
        return Deidentifier(
            project.profile(), project_keys(project), DeviceMask.pixel_policy(project.burned_in)
        )
    return Deidentifier(
        Profile.from_names(job.deid_options),
        ProjectKeys.generate(),
        DeviceMask.pixel_policy(ResearchProject.BurnedIn.REFUSE),
    )


def actor_role(user, tenant: Tenant) -> str:
    member = policy.membership(user, tenant) if user is not None else None
    return member.role if member is not None else ""
