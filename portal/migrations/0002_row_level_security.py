from django.db import migrations

from portal.rls import enable_tenant_rls


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [enable_tenant_rls("portal_clinicsummary")]
