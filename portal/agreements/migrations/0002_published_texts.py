"""Publish version 1 of the agreements (portal/agreements/texts/*.md), so that a clinic can accept them
from the first deployment. Later versions are published in Django admin."""

from django.db import migrations

from portal.agreements.first_versions import publish_first_versions


def publish(apps, schema_editor) -> None:
    publish_first_versions(apps.get_model("agreements", "AgreementText"))


def unpublish(apps, schema_editor) -> None:
    AgreementText = apps.get_model("agreements", "AgreementText")
    AgreementText.objects.filter(version=1, acceptances__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("agreements", "0001_initial")]

    operations = [migrations.RunPython(publish, unpublish)]
