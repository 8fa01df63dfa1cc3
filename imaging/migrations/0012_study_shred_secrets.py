"""Study keys get a secret in the key provider (imaging.crypto.keys, "Why a per-study secret").

Every existing study key is unwrapped under the old scheme (AES-GCM under the tenant key alone) and
wrapped again under the new one (the tenant key and a new secret of the study), so that existing
objects stay readable and become shreddable in backups taken from now on. Backups taken before this
migration hold keys of the old scheme: they must expire, or be destroyed, before a shredding is
complete for them (docs/backup.md).
"""

import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import migrations, models

# The old scheme, frozen here: the application no longer knows it.
_V1_CONTEXT = b"palisade/study-key/v1"
_NONCE_BYTES = 12


def _rewrap_with_study_secrets(apps, schema_editor) -> None:
    from portal.tenancy import all_tenants_scope

    # Every clinic's rows: on PostgreSQL, row-level security binds the migrating role too.
    with all_tenants_scope():
        _rewrap_all(apps, schema_editor)


def _rewrap_all(apps, schema_editor) -> None:
    StudyKey = apps.get_model("imaging", "StudyKey")
    rows = (
        StudyKey.objects.using(schema_editor.connection.alias)
        .filter(secret_ref="")
        .select_related("tenant_key")
    )
    if not rows.exists():
        return  # A new installation: no key provider needed.
    from imaging.crypto.keys import seal_study_key
    from imaging.crypto.providers import KeyManagementError, get_master_key_provider

    provider = get_master_key_provider()
    tenant_keys: dict[int, bytes] = {}
    for row in rows.iterator(chunk_size=500):
        tenant_key = row.tenant_key
        if tenant_key.master_key_id not in provider.key_ids:
            raise KeyManagementError(
                f"Key v{tenant_key.version} of tenant {tenant_key.tenant_id} was wrapped by master key "
                f"{tenant_key.master_key_id}, but the configured master key is {provider.key_id}."
            )
        if tenant_key.pk not in tenant_keys:
            tenant_keys[tenant_key.pk] = provider.unwrap(bytes(tenant_key.wrapped_key))
        wrapped = bytes(row.wrapped_key)
        aad = _V1_CONTEXT + struct.pack(">QQI", row.tenant_id, row.study_id, tenant_key.version)
        data_key = AESGCM(tenant_keys[tenant_key.pk]).decrypt(
            wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], aad
        )
        secret_ref = provider.create_study_secret()
        row.wrapped_key = seal_study_key(
            data_key,
            tenant_key=tenant_keys[tenant_key.pk],
            version=tenant_key.version,
            secret=provider.study_secret(secret_ref),
            tenant_id=row.tenant_id,
            study_id=row.study_id,
        )
        row.secret_ref = secret_ref
        row.save(update_fields=["wrapped_key", "secret_ref"])


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0011_patient_restricted"),
    ]

    operations = [
        migrations.AddField(
            model_name="studykey",
            name="secret_ref",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        # Irreversible: going back would need the old scheme's wrapping, which nothing writes any more.
        migrations.RunPython(_rewrap_with_study_secrets),
        migrations.AlterField(
            model_name="studykey",
            name="secret_ref",
            field=models.CharField(
                help_text="Names the study's secret in the key provider (never the secret itself).",
                max_length=64,
            ),
        ),
    ]
