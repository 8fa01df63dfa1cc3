import django.utils.timezone
from django.db import migrations, models

# Append-only on PostgreSQL: UPDATE and DELETE of a row, and TRUNCATE, are refused on the audit tables.
# TRUNCATE is let through only for a session that sets palisade.audit_truncate = 'allowed': the test
# suite's database flush does. The production role has INSERT and SELECT only (docs/deploy.md), which
# no setting changes.
_TRIGGERS = """
CREATE OR REPLACE FUNCTION palisade_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('palisade.audit_truncate', true) = 'allowed' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""
_TABLES = ("audit_auditevent", "audit_auditcheckpoint")


def _create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(_TRIGGERS, params=None)  # no placeholders: RAISE uses % itself
    for table in _TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION palisade_audit_append_only()"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION palisade_audit_append_only()"
        )


def _drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in _TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS palisade_audit_append_only()")


def _chain_existing_events(apps, schema_editor):
    from audit.chain import GENESIS_HASH, chain_of, event_hash

    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    heads: dict[str, tuple[int, str]] = {}
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        event.chain = chain_of(event.tenant_id)
        sequence, previous = heads.get(event.chain, (0, GENESIS_HASH))
        event.sequence, event.previous_hash = sequence + 1, previous
        event.hash = event_hash(event)
        event.save(update_fields=["chain", "sequence", "previous_hash", "hash"])
        heads[event.chain] = (event.sequence, event.hash)
    for chain, (sequence, last_hash) in heads.items():
        AuditChainHead.objects.create(chain=chain, sequence=sequence, hash=last_hash)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_authentication_actions")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="occurred_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.CharField(default="", editable=False, max_length=40),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="sequence",
            field=models.PositiveBigIntegerField(default=0, editable=False),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="previous_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("chain", models.CharField(max_length=40, primary_key=True, serialize=False)),
                ("sequence", models.PositiveBigIntegerField(default=0)),
                ("hash", models.CharField(default="", max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chain", models.CharField(max_length=40)),
                ("sequence", models.PositiveBigIntegerField()),
                ("hash", models.CharField(max_length=64)),
                ("signed_at", models.DateTimeField()),
                ("public_key", models.CharField(help_text="Ed25519 public key, hex.", max_length=64)),
                ("signature", models.CharField(help_text="Ed25519 signature, hex.", max_length=128)),
            ],
            options={
                "ordering": ["chain", "-sequence"],
                "indexes": [models.Index(fields=["chain", "sequence"], name="audit_audit_chain_27a4dc_idx")],
            },
        ),
        migrations.RunPython(_chain_existing_events, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                fields=("chain", "sequence"), name="audit_event_chain_sequence_unique"
            ),
        ),
        migrations.RunPython(_create_triggers, _drop_triggers),
    ]
