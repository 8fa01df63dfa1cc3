"""Reads of research: which studies an export's query selects, and which of them may leave.

Call inside the clinic's tenant scope: every query here is on scoped models."""

import datetime
from dataclasses import asdict, dataclass, field

from django.db.models import QuerySet

from imaging.models import Patient, Study
from imaging.research.models import DeviceMask, ResearchExport, ResearchProject
from portal.consents.models import ConsentPurpose
from portal.consents.services import has_consent


@dataclass(frozen=True)
class StudyQuery:
    """The studies an export takes: every filter given must match. Empty, it takes the whole clinic."""

    modality: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    description_contains: str = ""
    study_uids: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        data = asdict(self)
        data["date_from"] = self.date_from.isoformat() if self.date_from else None
        data["date_to"] = self.date_to.isoformat() if self.date_to else None
        data["study_uids"] = list(self.study_uids)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "StudyQuery":
        def day(value: str | None) -> datetime.date | None:
            return datetime.date.fromisoformat(value) if value else None

        return cls(
            modality=data.get("modality") or "",
            date_from=day(data.get("date_from")),
            date_to=day(data.get("date_to")),
            description_contains=data.get("description_contains") or "",
            study_uids=tuple(data.get("study_uids") or ()),
        )


@dataclass
class Selection:
    """The studies of a query whose patient consents to research use now, and how many patients the
    query matched who do not (counted, never named)."""

    studies: list[Study]
    studies_matched: int
    patients_with_consent: int
    patients_left_out: int


def matching_studies(query: StudyQuery) -> QuerySet[Study]:
    studies = Study.objects.select_related("patient", "tenant")
    if query.modality:
        studies = studies.filter(series__modality__iexact=query.modality)
    if query.date_from:
        studies = studies.filter(study_date__gte=query.date_from)
    if query.date_to:
        studies = studies.filter(study_date__lte=query.date_to)
    if query.description_contains:
        studies = studies.filter(description__icontains=query.description_contains)
    if query.study_uids:
        studies = studies.filter(study_instance_uid__in=query.study_uids)
    return studies.distinct().order_by("patient_id", "study_date", "pk")


def consented_selection(query: StudyQuery) -> Selection:
    """Consent is read now, patient by patient: a withdrawal made before this call leaves the patient
    out (docs/access.md, Consents)."""
    studies = list(matching_studies(query))
    return split_by_consent(studies)


def split_by_consent(studies: list[Study]) -> Selection:
    patients: dict[int, Patient] = {study.patient_id: study.patient for study in studies}
    consenting = {
        pk for pk, patient in patients.items() if has_consent(patient, ConsentPurpose.RESEARCH_DEIDENTIFIED)
    }
    return Selection(
        studies=[study for study in studies if study.patient_id in consenting],
        studies_matched=len(studies),
        patients_with_consent=len(consenting),
        patients_left_out=len(patients) - len(consenting),
    )


def projects() -> QuerySet[ResearchProject]:
    return ResearchProject.objects.select_related("destination_tenant")


def exports_of(project: ResearchProject) -> QuerySet[ResearchExport]:
    return ResearchExport.objects.filter(project=project).select_related("created_by")


def device_masks() -> QuerySet[DeviceMask]:
    return DeviceMask.objects.all()
