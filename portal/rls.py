"""Row-level security on PostgreSQL, the second wall behind django-scopes.

Each tenant-owned table gets a policy comparing its tenant_id with the connection setting that
portal.tenancy writes. FORCE makes the policy bind the table owner too; only a superuser or a role
with BYPASSRLS escapes it, which is why the application connects as a plain role (docs/deploy.md).
"""

from django.db import migrations

from portal.tenancy import DB_ALL_TENANTS_SETTING, DB_TENANT_SETTING

_POLICY = "palisade_tenant_isolation"


def _condition() -> str:
    return (
        f"current_setting('{DB_ALL_TENANTS_SETTING}', true) = 'on' OR "
        f"tenant_id = NULLIF(current_setting('{DB_TENANT_SETTING}', true), '')::bigint"
    )


def enable_tenant_rls(*tables: str) -> migrations.RunPython:
    def forward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            schema_editor.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
            schema_editor.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
            schema_editor.execute(
                f'CREATE POLICY {_POLICY} ON "{table}" USING ({_condition()}) WITH CHECK ({_condition()})'
            )

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            schema_editor.execute(f'DROP POLICY IF EXISTS {_POLICY} ON "{table}"')
            schema_editor.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
            schema_editor.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')

    return migrations.RunPython(forward, backward, elidable=False)
