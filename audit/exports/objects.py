"""What an audit event was about, in the terms both export formats use: studies (with the SOP
instances involved), patients, a query, and Palisade's own records (users, tokens, shares...).

Events keep identifiers as their recorders wrote them (`object_type`, `object_ids`, a few keys of
`details`). The UIDs are resolved against the index of the event's tenant, so that a study names
its patient (by Patient ID, never by name) and an instance its study and SOP class. A UID that is
not in the index (a probe refused before anything was found) is reported as it was asked for.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from audit.models import AuditAction, AuditEvent
from imaging.models import Instance, Patient, Series, Study

# object_type values whose object_ids are DICOM UIDs.
_DICOM_LEVELS = {"study", "series", "instance"}
# A lookup's IN list stays well under SQLite's limit on bound parameters.
_CHUNK = 500


@dataclass(frozen=True)
class PatientRef:
    patient_id: str
    issuer: str = ""


@dataclass
class StudyRef:
    uid: str
    patient: PatientRef | None = None
    # SOP Class UID -> SOP Instance UIDs of the event in this study, in the order they were named.
    instances: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class EventObjects:
    studies: list[StudyRef] = field(default_factory=list)
    patients: list[PatientRef] = field(default_factory=list)
    # Palisade records that are not DICOM objects: (object_type, identifier).
    records: list[tuple[str, str]] = field(default_factory=list)
    # A search: its keys (DICOM tags matched on, never the values) and where it ran.
    query: dict | None = None


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class _Index:
    """The studies, series, instances and patients a batch of events names, read in a few queries.
    Build inside the events' tenant scope."""

    def __init__(self, events: list[AuditEvent]) -> None:
        self.studies: dict[str, StudyRef] = {}
        self.series_study: dict[str, str] = {}
        self.instance_study: dict[str, tuple[str, str]] = {}
        self.patients: dict[str, PatientRef] = {}
        uids = sorted({uid for event in events for uid in _named_uids(event)})
        for chunk in _chunks(uids):
            for study in Study.objects.filter(study_instance_uid__in=chunk).select_related("patient"):
                self._remember(study)
            series_rows = Series.objects.filter(series_instance_uid__in=chunk)
            for series in series_rows.select_related("study__patient"):
                self._remember(series.study)
                self.series_study[series.series_instance_uid] = series.study.study_instance_uid
            instances = Instance.objects.filter(sop_instance_uid__in=chunk).select_related(
                "series__study__patient"
            )
            for instance in instances:
                study = instance.series.study
                self._remember(study)
                self.instance_study[instance.sop_instance_uid] = (
                    study.study_instance_uid,
                    instance.sop_class_uid,
                )
        patient_pks = sorted({pk for event in events for pk in _patient_pks(event)})
        for chunk in _chunks(patient_pks):
            for patient in Patient.objects.filter(pk__in=chunk):
                self.patients[str(patient.pk)] = _patient(patient)

    def _remember(self, study: Study) -> None:
        uid = study.study_instance_uid
        if uid not in self.studies:
            self.studies[uid] = StudyRef(uid, _patient(study.patient))

    def studies_of(self, event: AuditEvent) -> list[StudyRef]:
        studies: dict[str, StudyRef] = {}

        def study(uid: str) -> StudyRef:
            if uid not in studies:
                known = self.studies.get(uid)
                studies[uid] = StudyRef(uid, known.patient if known else None)
            return studies[uid]

        named_as_studies = _detail_studies(event)
        for uid in _named_uids(event):
            if uid in self.instance_study:
                study_uid, sop_class = self.instance_study[uid]
                named = study(study_uid).instances.setdefault(sop_class, [])
                if uid not in named:
                    named.append(uid)
            elif uid in self.series_study:
                study(self.series_study[uid])
            elif uid in self.studies or event.object_type == "study" or uid in named_as_studies:
                study(uid)
            # A series or instance UID found nowhere in the index names no study; the event's own
            # record keeps it.
        return list(studies.values())


def _named_uids(event: AuditEvent) -> list[str]:
    uids = [str(value) for value in event.object_ids] if event.object_type in _DICOM_LEVELS else []
    return uids + sorted(_detail_studies(event))


def _detail_studies(event: AuditEvent) -> set[str]:
    details = event.details or {}
    named = {str(uid) for uid in details["studies"]} if isinstance(details.get("studies"), list) else set()
    if isinstance(details.get("study"), str):
        named.add(details["study"])
    return named


def _patient_pks(event: AuditEvent) -> list[str]:
    """A patient-level C-FIND names the patients found by their row IDs (imaging.dimse.find)."""
    if event.object_type != "patient" or (event.details or {}).get("service") != "c-find":
        return []
    return [str(value) for value in event.object_ids if str(value).isdigit()]


def _named_patient_ids(event: AuditEvent) -> list[PatientRef]:
    """Other events of object type "patient" name the patients by their Patient IDs (audit.review)."""
    if event.object_type != "patient" or (event.details or {}).get("service") == "c-find":
        return []
    return [PatientRef(str(value)) for value in event.object_ids]


def _patient(patient: Patient) -> PatientRef:
    return PatientRef(patient.patient_id, patient.issuer_of_patient_id)


def _objects_of(event: AuditEvent, index: _Index | None) -> EventObjects:
    found = EventObjects()
    if index is not None:
        found.studies = index.studies_of(event)
        patients = {ref.patient for ref in found.studies if ref.patient is not None}
        patients.update(index.patients[pk] for pk in _patient_pks(event) if pk in index.patients)
    else:
        patients = set()
    patients.update(_named_patient_ids(event))
    found.patients = sorted(patients, key=lambda ref: (ref.patient_id, ref.issuer))
    if event.object_type and event.object_type not in _DICOM_LEVELS | {"patient"}:
        found.records = [(event.object_type, str(value)) for value in event.object_ids]
    if event.action in _SEARCHES:
        details = event.details or {}
        found.query = {key: details[key] for key in _QUERY_KEYS if key in details}
    return found


# Actions that searched, and the keys of their details that describe the search (never its values).
_SEARCHES = {AuditAction.QUERY, AuditAction.VIEW_STUDY_LIST, AuditAction.VIEW_INGEST_JOBS}
_QUERY_KEYS = ("service", "level", "model", "keys", "state", "results", "truncated")


def objects_of_events(events: list[AuditEvent], *, resolve: bool = True) -> dict[int, EventObjects]:
    """Each event's objects, by the event's sequence. With `resolve`, UIDs and patients are looked up
    in the index: call inside the events' tenant scope, so that only that clinic's index is read.
    Without, studies are reported as named, with no patient."""
    names_dicom = any(_named_uids(event) or _patient_pks(event) for event in events)
    index = _Index(events if resolve and names_dicom else []) if names_dicom else None
    return {event.sequence: _objects_of(event, index) for event in events}
