from django.db import migrations

from portal.rls import enable_tenant_rls


class Migration(migrations.Migration):
    dependencies = [("imaging", "0001_initial"), ("portal", "0002_row_level_security")]

    operations = [enable_tenant_rls("imaging_patient", "imaging_study", "imaging_series", "imaging_instance")]
