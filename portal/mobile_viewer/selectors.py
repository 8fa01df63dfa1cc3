"""What the light viewer draws: a study's series and their images, in reading order."""

from django.urls import reverse

from imaging.models import Instance, Study


def viewer_manifest(study: Study) -> dict:
    """The page's data for the browser: the study's WADO-RS base, and each series that has images with
    its instances (by instance number) and their frame counts. Identifiers only, no patient data."""
    # The study's WADO-RS resource (its route is named after STOW-RS, which shares the path).
    study_url = reverse(
        "dicomweb-stow-study",
        kwargs={"tenant_slug": study.tenant.slug, "study_uid": study.study_instance_uid},
    )
    # Instances without Rows (reports, waveforms, documents) have no image to render.
    instances = (
        Instance.objects.filter(series__study=study, rows__isnull=False)
        .select_related("series")
        .order_by("series__series_number", "series_id", "instance_number", "id")
    )
    series: dict[int, dict] = {}
    for instance in instances:
        entry = series.get(instance.series_id)
        if entry is None:
            row = instance.series
            entry = series[row.pk] = {
                "uid": row.series_instance_uid,
                "number": row.series_number,
                "modality": row.modality,
                "description": row.description,
                "thumbnail": f"{study_url}/series/{row.series_instance_uid}/thumbnail",
                "instances": [],
            }
        entry["instances"].append(
            {
                "uid": instance.sop_instance_uid,
                "frames": instance.number_of_frames or 1,
                "rows": instance.rows,
                "columns": instance.columns,
            }
        )
    return {"studyUrl": study_url, "series": list(series.values())}
