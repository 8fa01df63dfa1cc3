from django.db import migrations

from portal.rls import enable_tenant_rls


class Migration(migrations.Migration):
    dependencies = [("sharing", "0001_initial")]

    operations = [
        enable_tenant_rls("sharing_share", "sharing_sharelink", "sharing_sharelinkuse", "sharing_breakglassgrant")
    ]
