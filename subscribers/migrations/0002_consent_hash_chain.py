"""Chain the consent log (sequence and SHA-256) and, on PostgreSQL, refuse UPDATE and DELETE."""

import hashlib
import json

import django.utils.timezone
from django.db import migrations, models

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION subscribers_consent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the consent log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER subscribers_consent_append_only
BEFORE UPDATE OR DELETE ON subscribers_consentrecord
FOR EACH ROW EXECUTE FUNCTION subscribers_consent_append_only();
"""
DROP_TRIGGER = """
DROP TRIGGER IF EXISTS subscribers_consent_append_only ON subscribers_consentrecord;
DROP FUNCTION IF EXISTS subscribers_consent_append_only();
"""


def consent_digest_v1(record, previous_hash, *, occurred_at=None):
    """The chain's first digest, unkeyed, as this migration and the service wrote it until
    0004 re-chained the log. `occurred_at` is the text that was hashed, when it differs from
    the instant's isoformat as read back (imports hashed their local offset)."""
    content = {
        "sequence": record.sequence,
        "previous_hash": previous_hash,
        "subscriber": record.subscriber_id,
        "action": record.action,
        "channel": record.channel,
        "notice": record.notice_id,
        "occurred_at": occurred_at or record.occurred_at.isoformat(),
        "recorded_at": record.recorded_at.isoformat(),
        "evidence": record.evidence,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain_existing_records(apps, schema_editor):
    record_model = apps.get_model("subscribers", "ConsentRecord")
    previous_hash = ""
    for sequence, record in enumerate(record_model.objects.order_by("id"), start=1):
        record.sequence = sequence
        record.previous_hash = previous_hash
        record.hash = consent_digest_v1(record, previous_hash)
        record_model.objects.filter(pk=record.pk).update(
            sequence=record.sequence, previous_hash=record.previous_hash, hash=record.hash
        )
        previous_hash = record.hash


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_FUNCTION, params=None)
        schema_editor.execute(APPEND_ONLY_TRIGGER, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER, params=None)


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="consentrecord",
            name="recorded_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="recorded at"),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="sequence",
            field=models.PositiveBigIntegerField(null=True, verbose_name="sequence"),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="previous_hash",
            field=models.CharField(blank=True, max_length=64, verbose_name="previous hash"),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="hash",
            field=models.CharField(default="", max_length=64, verbose_name="hash"),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing_records, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="consentrecord",
            name="sequence",
            field=models.PositiveBigIntegerField(unique=True, verbose_name="sequence"),
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
