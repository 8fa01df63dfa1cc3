from django.db import migrations

from portal.rls import enable_tenant_rls


class Migration(migrations.Migration):
    dependencies = [("consents", "0001_initial")]

    operations = [enable_tenant_rls("consents_consenttext", "consents_consentdecision", "consents_consentrequirement")]
