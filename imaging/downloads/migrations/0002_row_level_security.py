from django.db import migrations

from portal.rls import enable_tenant_rls


class Migration(migrations.Migration):
    dependencies = [("downloads", "0001_initial")]

    operations = [enable_tenant_rls("downloads_downloadjob")]
