"""The upgrade to the keyed chain (migration 0004): old records are re-chained and verify,
imported ones included; an old chain that was already broken stops the upgrade.

The migration's step runs on the real database inside the test's transaction (a transactional
test could not flush the log afterwards: PostgreSQL refuses TRUNCATE of it)."""

import importlib
from datetime import UTC, datetime
from io import StringIO
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from subscribers.models import ConsentRecord, Subscriber

pytestmark = pytest.mark.django_db

upgrade = importlib.import_module("subscribers.migrations.0004_consent_log_keyed_and_bound")
consent_digest_v1 = importlib.import_module(
    "subscribers.migrations.0002_consent_hash_chain"
).consent_digest_v1


def _old_log(notice, *, tamper: bool = False) -> None:
    """A keyword's consent, then an import's, hashed as the previous release hashed them (the
    import's date with the comune's offset)."""
    previous_hash = ""
    for sequence, (phone, channel, occurred_at) in enumerate(
        [
            ("+393331111111", "whatsapp", datetime(2025, 3, 1, 9, 0, tzinfo=UTC)),
            (
                "+393332222222",
                "import",
                datetime(2024, 3, 15, 10, 30, tzinfo=ZoneInfo("Europe/Rome")),
            ),
        ],
        start=1,
    ):
        record = ConsentRecord(
            subscriber=Subscriber.objects.create(phone=phone, status="active"),
            action="granted",
            channel=channel,
            notice=notice,
            occurred_at=occurred_at,
            recorded_at=datetime(2025, 3, 1, 9, 0, sequence, tzinfo=UTC),  # timezone.now()
            evidence={"n": sequence},
            sequence=sequence,
            previous_hash=previous_hash,
        )
        record.hash = previous_hash = consent_digest_v1(record, previous_hash)
        if tamper and sequence == 1:
            record.action = "withdrawn"
        record.save()


def _migrate() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the inserts' pending checks
        upgrade.rechain(apps, SimpleNamespace(connection=connection, execute=cursor.execute))


def test_old_records_are_rechained_and_verify(privacy_notice):
    _old_log(privacy_notice)

    _migrate()

    out = StringIO()
    call_command("verify_consent_log", stdout=out)
    assert "Consent log intact: 2 records" in out.getvalue()


def test_an_old_chain_already_broken_stops_the_upgrade(privacy_notice):
    _old_log(privacy_notice, tamper=True)
    before = list(ConsentRecord.objects.values_list("hash", "subscriber_pseudonym"))

    with pytest.raises(upgrade.OldChainBroken, match=r"\(records \d+ \(sequence 1\)\)"):
        _migrate()

    # Nothing re-chained: the tampering still shows.
    assert list(ConsentRecord.objects.values_list("hash", "subscriber_pseudonym")) == before
