from django.db import migrations

# Person names match case-insensitively (imaging/query/matching.py): Django writes a prefix wildcard as
# UPPER(name::text) LIKE UPPER('LAR%'), which the plain (tenant, name) index cannot serve, so a QIDO or
# C-FIND by name wildcard read every patient of the clinic. An expression index over UPPER(name) with
# the pattern operator class serves both that prefix LIKE and the exact case-insensitive match.
# PostgreSQL only: SQLite's LIKE is case-insensitive already and plans differently.
_INDEX = "patient_tenant_upper_name"


def _create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX {_INDEX} ON imaging_patient (tenant_id, UPPER(name::text) varchar_pattern_ops)"
        )


def _drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {_INDEX}")


class Migration(migrations.Migration):
    dependencies = [("imaging", "0008_remote_ae_query_retrieve")]

    operations = [migrations.RunPython(_create, _drop)]
