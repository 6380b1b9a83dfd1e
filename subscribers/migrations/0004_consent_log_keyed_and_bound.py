"""Key the consent chain and bind each record to its subscriber's pseudonym and its notice's
text (issue 13); on PostgreSQL refuse TRUNCATE too; check privacy-notice versions.

Existing records are re-chained under the keyed digest rather than left in the old form: an
unkeyed record can be recomputed by anyone with the database, and an old record bound to no
pseudonym or notice text could be moved to another number unseen, so the old form would keep
the very gaps this closes. Re-chaining must not launder earlier tampering, so the old chain is
verified first and the migration stops, changing nothing, if it is broken. The import's dates
were hashed with the comune's offset (issue 13, finding 5): that form is accepted as intact.
"""

import importlib
from zoneinfo import ZoneInfo

import django.core.validators
from django.conf import settings
from django.db import migrations, models

# TRUNCATE of a log that holds records (emptying an empty one loses nothing, and lets a test
# database be flushed).
TRUNCATE_TRIGGER = """
CREATE OR REPLACE FUNCTION subscribers_consent_no_truncate() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM subscribers_consentrecord) THEN
        RAISE EXCEPTION 'the consent log is append-only: TRUNCATE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER subscribers_consent_no_truncate
BEFORE TRUNCATE ON subscribers_consentrecord
FOR EACH STATEMENT EXECUTE FUNCTION subscribers_consent_no_truncate();
"""
DROP_TRUNCATE_TRIGGER = """
DROP TRIGGER IF EXISTS subscribers_consent_no_truncate ON subscribers_consentrecord;
DROP FUNCTION IF EXISTS subscribers_consent_no_truncate();
"""
# The row trigger of 0002, which refuses the re-chain's UPDATEs; the ALTER TABLE also locks the
# table, so nothing is appended while the chain is rewritten.
APPEND_ONLY_TRIGGER = "subscribers_consent_append_only"


class OldChainBroken(Exception):
    """The consent log was altered before this upgrade: re-chaining it would hide that."""


def _old_hash_matches(record, previous_hash, consent_digest_v1) -> bool:
    local = record.occurred_at.astimezone(ZoneInfo(settings.TIME_ZONE)).isoformat()
    return record.hash in (
        consent_digest_v1(record, previous_hash),
        consent_digest_v1(record, previous_hash, occurred_at=local),
    )


def _pseudonym(subscriber) -> str:
    from subscribers.services.pseudonyms import subscriber_pseudonym

    if subscriber.pseudonym and not (subscriber.phone or subscriber.wa_user_id):
        return subscriber.pseudonym
    return subscriber_pseudonym(address=subscriber.phone or f"wa:{subscriber.wa_user_id}")


def rechain(apps, schema_editor):
    from subscribers.consent_log import consent_digest, privacy_notice_hash

    consent_digest_v1 = importlib.import_module(
        "subscribers.migrations.0002_consent_hash_chain"
    ).consent_digest_v1
    record_model = apps.get_model("subscribers", "ConsentRecord")
    records = list(record_model.objects.select_related("subscriber", "notice").order_by("sequence"))
    previous_hash, broken = "", []
    for expected, record in enumerate(records, start=1):
        if (
            record.sequence != expected
            or record.previous_hash != previous_hash
            or not _old_hash_matches(record, previous_hash, consent_digest_v1)
        ):
            broken.append(f"{record.pk} (sequence {record.sequence})")
        previous_hash = record.hash
    if broken:
        raise OldChainBroken(
            "The consent log was altered before this upgrade (records "
            + ", ".join(broken)
            + "); re-chaining it would hide that. Investigate with the previous release's "
            "manage.py verify_consent_log before upgrading."
        )
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql and records:
        schema_editor.execute(
            f"ALTER TABLE subscribers_consentrecord DISABLE TRIGGER {APPEND_ONLY_TRIGGER}"
        )
    previous_hash = ""
    for record in records:
        record.subscriber_pseudonym = _pseudonym(record.subscriber)
        record.notice_hash = privacy_notice_hash(record.notice)
        record.previous_hash = previous_hash
        record.hash = previous_hash = consent_digest(record, previous_hash)
        record_model._base_manager.filter(pk=record.pk).update(
            subscriber_pseudonym=record.subscriber_pseudonym,
            notice_hash=record.notice_hash,
            previous_hash=record.previous_hash,
            hash=record.hash,
        )
    if postgresql and records:
        schema_editor.execute(
            f"ALTER TABLE subscribers_consentrecord ENABLE TRIGGER {APPEND_ONLY_TRIGGER}"
        )


def create_truncate_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRUNCATE_TRIGGER, params=None)


def drop_truncate_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRUNCATE_TRIGGER, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0003_pseudonym_and_archived_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="consentrecord",
            name="notice_hash",
            field=models.CharField(default="", max_length=64, verbose_name="privacy notice hash"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="subscriber_pseudonym",
            field=models.CharField(default="", max_length=64, verbose_name="subscriber pseudonym"),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="privacynotice",
            name="version",
            field=models.CharField(
                max_length=32,
                unique=True,
                validators=[
                    django.core.validators.RegexValidator(
                        "^[A-Za-z0-9._-]+\\Z",
                        "Use only letters, digits, dot, dash and underscore (e.g. 2.1 or 2024-01).",
                    )
                ],
                verbose_name="version",
            ),
        ),
        # Rewriting the old chain is not reversible; going back leaves the keyed chain, which
        # the previous release's verify_consent_log reports as altered.
        migrations.RunPython(rechain, migrations.RunPython.noop),
        migrations.RunPython(create_truncate_trigger, drop_truncate_trigger),
    ]
