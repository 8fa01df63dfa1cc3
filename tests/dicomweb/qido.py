"""A small index to search, built with factories: two patients, three studies, four series."""

import datetime
from dataclasses import dataclass

from imaging.models import Instance, Series, Study
from tests.factories import InstanceFactory, PatientFactory, SeriesFactory, StudyFactory


@dataclass
class Index:
    head: Study
    chest: Study
    knee: Study
    head_ct: Series
    head_mr: Series
    chest_ct: Series
    knee_mr: Series
    instances: list[Instance]


def build_index(tenant) -> Index:
    jane = PatientFactory(
        tenant=tenant, patient_id="PID-1", name="Doe^Jane^Mary", birth_date=datetime.date(1970, 5, 1), sex="F"
    )
    john = PatientFactory(
        tenant=tenant,
        patient_id="PID-2",
        name="Smith^John=山田^太郎",
        birth_date=datetime.date(1985, 1, 9),
        sex="M",
    )
    head = StudyFactory(
        tenant=tenant,
        patient=jane,
        study_date=datetime.date(2020, 1, 15),
        study_time=datetime.time(9, 30),
        accession_number="ACC100",
        study_id="S1",
        description="CT HEAD",
        referring_physician_name="House^Gregory",
        modalities_in_study="CT\\MR",
        number_of_series=2,
        number_of_instances=3,
    )
    chest = StudyFactory(
        tenant=tenant,
        patient=jane,
        study_date=datetime.date(2021, 6, 30),
        study_time=datetime.time(14, 5, 10),
        accession_number="ACC200",
        description="CHEST_50%",
        modalities_in_study="CT",
        number_of_series=1,
        number_of_instances=1,
    )
    knee = StudyFactory(
        tenant=tenant,
        patient=john,
        study_date=None,
        accession_number="XYZ300",
        description="MR KNEE",
        modalities_in_study="MR",
        number_of_series=1,
        number_of_instances=1,
    )
    head_ct = SeriesFactory(tenant=tenant, study=head, modality="CT", series_number=1, number_of_instances=2)
    head_mr = SeriesFactory(tenant=tenant, study=head, modality="MR", series_number=2, number_of_instances=1)
    chest_ct = SeriesFactory(
        tenant=tenant, study=chest, modality="CT", series_number=1, number_of_instances=1
    )
    knee_mr = SeriesFactory(tenant=tenant, study=knee, modality="MR", series_number=7, number_of_instances=1)
    instances = [
        InstanceFactory(tenant=tenant, series=head_ct, instance_number=1, rows=512, columns=512),
        InstanceFactory(tenant=tenant, series=head_ct, instance_number=2, rows=512, columns=512),
        InstanceFactory(
            tenant=tenant, series=head_mr, instance_number=1, sop_class_uid="1.2.840.10008.5.1.4.1.1.4"
        ),
        InstanceFactory(tenant=tenant, series=chest_ct, instance_number=1),
        InstanceFactory(tenant=tenant, series=knee_mr, instance_number=1, number_of_frames=3),
    ]
    return Index(head, chest, knee, head_ct, head_mr, chest_ct, knee_mr, instances)
