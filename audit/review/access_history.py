"""A patient's "who viewed my images": each access to their studies at one clinic, read from the trail.

Listed: opening a study's page, retrieving its images (the viewer, DICOMweb, DIMSE), downloading it,
sharing it (with a doctor, or by link), a share link being opened, and break-the-glass. Not listed:
study lists and searches (QUERY, VIEW_STUDY_LIST), which show that a study exists, not its images.

A viewer opening a study sends many WADO-RS requests, each one RETRIEVE event; those of one person on
one study no more than GROUP_GAP apart are one row, with the number of requests.

Staff names are shown as the clinic decides (`names_shown`): setting PALISADE_ACCESS_HISTORY_NAMES,
either one choice for every clinic or a mapping of clinic slug to choice ("*" for the others).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from accounts import policy
from accounts.models import User
from audit.models import AuditAction, AuditEvent, Outcome
from audit.review.labels import action_label, role_label
from audit.review.selectors import JsonArrayIncludesAny, events_of, mentioning
from imaging.models import Study
from portal.models import Tenant
from portal.sharing.models import ShareLink

ACCESS_ACTIONS = (
    AuditAction.VIEW_STUDY,
    AuditAction.RETRIEVE,
    AuditAction.DOWNLOAD,
    AuditAction.SHARE_GRANTED,
    AuditAction.SHARE_LINK_CREATED,
    AuditAction.SHARE_LINK_OPENED,
    AuditAction.BREAK_THE_GLASS,
)
GROUPED_ACTIONS = {AuditAction.VIEW_STUDY, AuditAction.RETRIEVE}
GROUP_GAP = timedelta(minutes=5)
ROWS_PER_PAGE = 50

ROLE_AND_NAME = "role_and_name"
ROLE_ONLY = "role_only"
NAME_CHOICES = (ROLE_AND_NAME, ROLE_ONLY)
DEFAULT_NAMES = ROLE_AND_NAME

# Where an event made through a share link names the link (portal.sharing writes it).
SHARE_LINK_DETAIL = "share_link"


def names_shown(tenant: Tenant) -> str:
    """ROLE_AND_NAME (a staff member's name and role) or ROLE_ONLY (their role alone), as the clinic
    chose. An unknown choice shows less, not more."""
    configured = getattr(settings, "PALISADE_ACCESS_HISTORY_NAMES", DEFAULT_NAMES)
    if isinstance(configured, dict):
        configured = configured.get(tenant.slug, configured.get("*", DEFAULT_NAMES))
    return configured if configured in NAME_CHOICES else ROLE_ONLY


@dataclass
class AccessRow:
    study_id: int | None  # None: every study of the patient (a share of the patient)
    action: str
    who_key: tuple
    event: AuditEvent  # the newest of the row
    first_at: datetime
    study: Study | None = None  # loaded for the rows of the page shown
    requests: int = 1
    who: str = ""
    role: str = ""

    @property
    def last_at(self) -> datetime:
        return self.event.occurred_at

    @property
    def what(self) -> str:
        return action_label(self.action)


@dataclass
class AccessPage:
    rows: list[AccessRow]
    number: int
    has_next: bool
    # The Patient IDs of the patient's records at the clinic, whose accesses the page shows.
    patient_ids: list[str] = field(default_factory=list)

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def access_history(user: User, tenant: Tenant, *, page: int = 1) -> AccessPage:
    """Page `page` (from 1) of the accesses to the studies `user` may see as a patient of `tenant`,
    newest first. Call in the clinic's scope, for a member whose role is patient."""
    # Keys, not objects: a patient may have 1,000 studies, and only the rows shown need theirs loaded.
    keys = list(
        policy.visible_studies(user, tenant)
        .order_by()
        .values_list("study_instance_uid", "pk", "patient__patient_id")
    )
    by_uid = {uid: pk for uid, pk, _ in keys}
    patient_ids = sorted({patient_id for _, _, patient_id in keys})
    if not keys:
        return AccessPage(rows=[], number=page, has_next=False)
    # A share of every study of a patient names the patient (object_type "patient").
    of_patient = Q(JsonArrayIncludesAny("object_ids", patient_ids), object_type="patient")
    events = (
        events_of(tenant)
        .filter(action__in=ACCESS_ACTIONS, outcome=Outcome.SUCCESS)
        .filter(mentioning(list(by_uid)) | of_patient)
    )
    offset = (page - 1) * ROWS_PER_PAGE
    rows = _grouped_rows(events, by_uid, wanted=offset + ROWS_PER_PAGE + 1)
    shown = rows[offset : offset + ROWS_PER_PAGE]
    studies = Study.objects.in_bulk({row.study_id for row in shown if row.study_id is not None})
    for row in shown:
        row.study = studies.get(row.study_id)
    _name(shown, user, tenant)
    return AccessPage(
        rows=shown, number=page, has_next=len(rows) > offset + ROWS_PER_PAGE, patient_ids=patient_ids
    )


def _who_key(event: AuditEvent) -> tuple:
    if event.actor_id is not None:
        return ("user", event.actor_id)
    link = event.details.get(SHARE_LINK_DETAIL)
    if link is not None:
        return ("link", str(link))
    if event.actor_role == "remote_ae":
        return ("ae", str(event.details.get("calling_ae", "")))
    return ("other", event.actor_role)


def _studies_of(event: AuditEvent, by_uid: dict[str, int]) -> list[int | None]:
    """The pks of the patient's studies that `event` names."""
    named = [*event.object_ids, event.details.get("study"), *(event.details.get("studies") or [])]
    studies = list({uid: by_uid[uid] for uid in named if isinstance(uid, str) and uid in by_uid}.values())
    # Otherwise the event named the patient (object_type "patient"): all of their studies.
    return studies or [None]


def _grouped_rows(events, by_uid: dict[str, int], *, wanted: int) -> list[AccessRow]:
    """At least `wanted` rows (fewer when the trail ends), each complete: reading stops only once no
    older event could still join one of the first `wanted` rows."""
    rows: list[AccessRow] = []
    open_rows: dict[tuple, AccessRow] = {}
    for event in events.iterator(chunk_size=500):
        if len(rows) >= wanted and event.occurred_at < min(row.first_at for row in rows[:wanted]) - GROUP_GAP:
            break
        who_key = _who_key(event)
        for study_id in _studies_of(event, by_uid):
            key = (who_key, study_id, event.action)
            row = open_rows.get(key)
            if (
                event.action in GROUPED_ACTIONS
                and row is not None
                and row.first_at - event.occurred_at <= GROUP_GAP
            ):
                row.first_at = event.occurred_at
                row.requests += 1
                continue
            row = AccessRow(
                study_id=study_id,
                action=event.action,
                who_key=who_key,
                event=event,
                first_at=event.occurred_at,
            )
            rows.append(row)
            open_rows[key] = row
    return rows


def _name(rows: list[AccessRow], viewer: User, tenant: Tenant) -> None:
    """Fill in who each row's person is, in the clinic's chosen words."""
    with_names = names_shown(tenant) == ROLE_AND_NAME
    link_ids = {int(key[1]) for row in rows if (key := row.who_key)[0] == "link" and key[1].isdigit()}
    labels = dict(ShareLink.objects.filter(pk__in=link_ids).values_list("pk", "label"))
    for row in rows:
        kind, ident = row.who_key
        row.role = role_label(row.event.actor_role) if row.event.actor_role else ""
        if kind == "user" and ident == viewer.pk:
            row.who = "You"
        elif kind == "user":
            actor = row.event.actor
            row.who = (actor.full_name or actor.email) if with_names else "Name not shown"
        elif kind == "link":
            label = labels.get(int(ident)) if ident.isdigit() else None
            row.who = f"Someone with a share link ({label})" if label else "Someone with a share link"
            row.role = "Share link"
        elif kind == "ae":
            row.who = (
                f"A DICOM system of the clinic ({ident})"
                if with_names and ident
                else "A DICOM system of the clinic"
            )
        else:
            row.who = "Unknown"
