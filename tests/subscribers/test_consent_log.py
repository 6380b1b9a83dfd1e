"""The consent log is append-only, and tampering behind the application's back is found."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from subscribers.models import ConsentLogIsAppendOnly, ConsentRecord
from subscribers.services import consent

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def log(privacy_notice) -> list[ConsentRecord]:
    """Three citizens join, one leaves: four records."""
    for minute, phone in enumerate(["+393331111111", "+393332222222", "+393333333333"]):
        consent.subscriber_subscribe(
            phone=phone,
            occurred_at=T0 + timedelta(minutes=minute),
            channel=ConsentRecord.Channel.WHATSAPP,
            evidence={"message_id": f"wamid.{minute}", "text": "Iscrivimi 😊 àèì"},
        )
    consent.subscriber_unsubscribe(
        phone="+393331111111",
        occurred_at=T0 + timedelta(hours=1),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.bye", "text": "Cancellami"},
    )
    return list(ConsentRecord.objects.order_by("sequence"))


def verify() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_consent_log", stdout=out)
    return out.getvalue()


def test_records_chain_each_to_the_one_before(log):
    assert [r.sequence for r in log] == [1, 2, 3, 4]
    assert log[0].previous_hash == ""
    assert all(b.previous_hash == a.hash for a, b in zip(log, log[1:], strict=False))
    assert "Consent log intact: 4 records" in verify()


def test_the_orm_refuses_to_change_or_delete_a_record(log):
    record = log[0]
    record.action = ConsentRecord.Action.WITHDRAWN
    with pytest.raises(ConsentLogIsAppendOnly):
        record.save()
    with pytest.raises(ConsentLogIsAppendOnly):
        record.delete()
    with pytest.raises(ConsentLogIsAppendOnly):
        ConsentRecord.objects.filter(pk=record.pk).update(action="withdrawn")
    with pytest.raises(ConsentLogIsAppendOnly):
        ConsentRecord.objects.all().delete()
    assert "intact" in verify()


def test_the_admin_offers_no_way_to_change_or_delete(admin_client, log):
    record = log[0]
    change = admin_client.get(f"/admin/subscribers/consentrecord/{record.pk}/change/")
    delete = admin_client.post(
        f"/admin/subscribers/consentrecord/{record.pk}/delete/", {"post": "yes"}
    )

    assert b'name="_save"' not in change.content
    assert delete.status_code == 403
    assert ConsentRecord.objects.filter(pk=record.pk).exists()


def _raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE subscribers_consentrecord SET action = 'withdrawn' WHERE sequence = 1",
        "DELETE FROM subscribers_consentrecord WHERE sequence = 2",
    ],
)
def test_postgresql_refuses_update_and_delete_by_sql(postgres, log, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw(statement)
    assert "intact" in verify()


def _behind_the_triggers_back(sql: str, params=()) -> None:
    """What a database administrator could still do: tampering verify must find."""
    _raw("SET session_replication_role = replica")  # a superuser switches triggers off
    _raw(sql, params)
    _raw("SET session_replication_role = DEFAULT")


def test_an_altered_record_is_found(postgres, log):
    _behind_the_triggers_back(
        "UPDATE subscribers_consentrecord SET occurred_at = occurred_at - interval '1 day' "
        "WHERE sequence = 2"
    )
    with pytest.raises(
        CommandError, match=rf"Consent record {log[1].pk} \(sequence 2\): its content"
    ):
        verify()


def test_a_removed_record_is_found(postgres, log):
    _behind_the_triggers_back("DELETE FROM subscribers_consentrecord WHERE sequence = 2")
    with pytest.raises(CommandError, match=r"sequence 3\): records 2–2 are missing"):
        verify()


def test_a_reordered_record_is_found(postgres, log):
    for old, new in [(2, 1000), (3, 2), (1000, 3)]:  # swap records 2 and 3
        _behind_the_triggers_back(
            "UPDATE subscribers_consentrecord SET sequence = %s WHERE sequence = %s", [new, old]
        )
    with pytest.raises(CommandError, match=r"sequence 2\): the record before it"):
        verify()
