"""The consent log is append-only, and tampering behind the application's back is found."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from subscribers.consent_log import consent_digest
from subscribers.models import ConsentLogIsAppendOnly, ConsentRecord, Subscriber
from subscribers.services import consent
from subscribers.services.pseudonyms import subscriber_pseudonymise

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


def test_two_separate_tamperings_are_both_reported(postgres, log):
    for sequence in (2, 4):
        _behind_the_triggers_back(
            "UPDATE subscribers_consentrecord SET occurred_at = occurred_at - interval '1 day' "
            "WHERE sequence = %s",
            [sequence],
        )
    with pytest.raises(CommandError) as broken:
        verify()

    assert f"Consent record {log[1].pk} (sequence 2): its content was altered" in str(broken.value)
    assert f"Consent record {log[3].pk} (sequence 4): its content was altered" in str(broken.value)


def test_postgresql_refuses_truncate(postgres, log):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw("SET CONSTRAINTS ALL IMMEDIATE")  # the fixture's pending foreign-key checks
        _raw("TRUNCATE subscribers_consentrecord")
    assert ConsentRecord.objects.count() == 4


def test_recomputing_the_whole_chain_without_the_key_is_caught(postgres, log, settings):
    """Someone with the database but not CONSENT_LOG_KEY rewrites a record and re-chains all."""
    _behind_the_triggers_back(
        "UPDATE subscribers_consentrecord SET action = 'granted' WHERE sequence = 4"
    )
    settings.CONSENT_LOG_KEY = "a guess at the key"
    previous_hash = ""
    for record in ConsentRecord.objects.order_by("sequence"):
        record.previous_hash = previous_hash
        previous_hash = consent_digest(record, previous_hash)
        _behind_the_triggers_back(
            "UPDATE subscribers_consentrecord SET previous_hash = %s, hash = %s WHERE id = %s",
            [record.previous_hash, previous_hash, record.pk],
        )
    settings.CONSENT_LOG_KEY = "tests-consent-log-key"

    with pytest.raises(CommandError) as broken:
        verify()

    for record in log:
        assert f"(sequence {record.sequence}): its content was altered" in str(broken.value)


def test_moving_a_consent_to_another_subscriber_is_caught(postgres, log):
    _behind_the_triggers_back(
        "UPDATE subscribers_consentrecord SET subscriber_id = %s WHERE sequence = 2",
        [log[2].subscriber_id],
    )
    with pytest.raises(CommandError, match=rf"{log[1].pk} \(sequence 2\): its content"):
        verify()


def test_moving_a_consent_to_another_number_is_caught(log):
    """The numbers of two citizens swapped: each consent now seems given by the other."""
    first, second = Subscriber.objects.get(pk=log[1].subscriber_id), log[2].subscriber
    _raw(
        "UPDATE subscribers_subscriber SET phone = NULL, wa_user_id = 'x' WHERE id = %s", [first.pk]
    )
    _raw("UPDATE subscribers_subscriber SET phone = %s WHERE id = %s", [first.phone, second.pk])
    _raw(
        "UPDATE subscribers_subscriber SET phone = %s, wa_user_id = NULL WHERE id = %s",
        [second.phone, first.pk],
    )

    with pytest.raises(CommandError) as broken:
        verify()

    for record in (log[1], log[2]):
        assert (
            f"Consent record {record.pk} (sequence {record.sequence}): it was given by another "
            "number than its subscriber's" in str(broken.value)
        )


def test_editing_the_notice_text_is_caught(log):
    _raw("UPDATE subscribers_privacynotice SET body = 'Un altro testo.'")

    with pytest.raises(CommandError) as broken:
        verify()

    for record in log:
        assert f"(sequence {record.sequence}): the text of privacy notice 1.0 was changed" in str(
            broken.value
        )


def test_a_withdrawn_citizen_set_back_to_active_is_caught(log):
    withdrawn = log[3].subscriber
    _raw("UPDATE subscribers_subscriber SET status = 'active' WHERE id = %s", [withdrawn.pk])

    with pytest.raises(CommandError) as broken:
        verify()

    assert (
        f"Subscriber {withdrawn.pk} is active, but their latest consent event "
        f"(record {log[3].pk}) is withdrawn" in str(broken.value)
    )


def test_a_pseudonymised_citizen_still_verifies(log):
    subscriber = log[3].subscriber
    subscriber_pseudonymise(subscriber=subscriber)

    assert "Consent log intact: 4 records" in verify()


def _move(old: str, new: str, *, minutes: int, user_id: str | None = None) -> None:
    consent.subscriber_number_change(
        phone=old,
        wa_user_id=None,
        new_phone=new,
        new_user_id=user_id,
        occurred_at=T0 + timedelta(hours=2, minutes=minutes),
        evidence={"message_id": f"wamid.moved.{minutes}", "kind": "number_changed"},
    )


def test_a_citizen_who_changed_number_twice_still_verifies(log):
    _move("+393332222222", "+393334444444", minutes=0)
    _move("+393334444444", "+393335555555", minutes=1)

    assert "Consent log intact: 6 records" in verify()
    moved = Subscriber.objects.get(phone="+393335555555")
    assert list(moved.consents.order_by("sequence").values_list("action", flat=True)) == [
        "granted",
        "number_changed",
        "number_changed",
    ]


def test_a_moved_citizen_then_pseudonymised_still_verifies(log):
    _move("+393332222222", "+393334444444", minutes=0)
    consent.subscriber_unsubscribe(
        phone="+393334444444",
        occurred_at=T0 + timedelta(hours=3),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.bye2", "text": "Cancellami"},
    )
    subscriber_pseudonymise(subscriber=Subscriber.objects.get(phone="+393334444444"))

    # Unsubscribed after its latest withdrawal: the number's change is no consent event.
    assert "Consent log intact: 6 records" in verify()


def test_a_moved_citizen_s_number_changed_behind_the_application_s_back_is_caught(log):
    _move("+393332222222", "+393334444444", minutes=0)
    moved = Subscriber.objects.get(phone="+393334444444")
    _raw("UPDATE subscribers_subscriber SET phone = '+393339999999' WHERE id = %s", [moved.pk])

    with pytest.raises(CommandError) as broken:
        verify()

    # The move's record binds the new number; those before it, the old one, which still holds.
    [change] = moved.consents.filter(action="number_changed")
    assert str(broken.value).count("another number than its subscriber's") == 1
    assert f"Consent record {change.pk} (sequence {change.sequence})" in str(broken.value)


def test_a_forged_number_change_is_caught(postgres, log):
    """Whoever could rewrite the old number's pseudonym in the move's evidence (to hide whose
    consent it was) breaks the record's hash."""
    _move("+393332222222", "+393334444444", minutes=0)
    _behind_the_triggers_back(
        "UPDATE subscribers_consentrecord SET evidence = jsonb_set(evidence::jsonb, "
        "'{previous_pseudonym}', '\"forged\"')::json WHERE action = 'number_changed'"
    )

    with pytest.raises(CommandError, match="its content was altered"):
        verify()


# --- The anchor: the chain's head, signed, kept outside the database -------------------------


@pytest.fixture
def anchor_path(settings, tmp_path):
    settings.CONSENT_ANCHOR_PATH = str(tmp_path / "consent-anchors.jsonl")
    return tmp_path / "consent-anchors.jsonl"


def anchor() -> str:
    out = StringIO()
    call_command("anchor_consent_log", stdout=out)
    return out.getvalue()


def test_the_anchor_file_is_written_and_signed(anchor_path, log):
    anchor()
    anchor()

    lines = anchor_path.read_text().splitlines()
    assert len(lines) == 2
    written = json.loads(lines[-1])
    assert (written["count"], written["head"]) == (4, log[3].hash)
    signed = {k: v for k, v in written.items() if k != "signature"}
    expected = hmac.new(
        b"tests-consent-log-key",
        json.dumps(signed, sort_keys=True, separators=(",", ":")).encode(),
        hashlib.sha256,
    ).hexdigest()
    assert written["signature"] == expected
    assert "compared with the anchor of" in verify()


def test_the_anchor_is_emailed_to_the_privacy_officer(settings, log, mailoutbox):
    settings.CONSENT_ANCHOR_EMAIL = ["dpo@comune.example.it"]

    anchor()

    [message] = mailoutbox
    assert message.to == ["dpo@comune.example.it"]
    assert log[3].hash in message.body


def test_anchoring_needs_somewhere_to_write(log):
    with pytest.raises(CommandError, match="CONSENT_ANCHOR_PATH or CONSENT_ANCHOR_EMAIL"):
        anchor()


def test_deleting_the_newest_records_is_caught_by_the_anchor(postgres, anchor_path, log):
    anchor()
    _behind_the_triggers_back("DELETE FROM subscribers_consentrecord WHERE sequence >= 3")

    with pytest.raises(CommandError, match=r"The anchor of .* counts 4 records, the log has 2"):
        verify()


def test_emptying_the_log_is_caught_by_the_anchor(postgres, anchor_path, log):
    anchor()
    _raw("SET CONSTRAINTS ALL IMMEDIATE")  # the fixture's pending foreign-key checks
    _behind_the_triggers_back("TRUNCATE subscribers_consentrecord")

    with pytest.raises(CommandError, match=r"counts 4 records, the log has 0"):
        verify()


def test_a_forged_anchor_is_reported(anchor_path, log):
    anchor()
    written = json.loads(anchor_path.read_text())
    written["count"] = 3
    anchor_path.write_text(json.dumps(written) + "\n")

    with pytest.raises(CommandError, match="its signature is not valid"):
        verify()


def test_an_anchor_kept_elsewhere_is_compared_too(tmp_path, settings, log):
    """The privacy officer keeps the e-mailed anchor and hands it to verification."""
    kept = tmp_path / "from-email.jsonl"
    settings.CONSENT_ANCHOR_PATH = str(kept)
    anchor()
    settings.CONSENT_ANCHOR_PATH = ""
    consent.subscriber_subscribe(
        phone="+393334444444",
        occurred_at=T0 + timedelta(hours=2),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.late", "text": "Iscrivimi"},
    )
    out = StringIO()

    call_command("verify_consent_log", "--anchor", str(kept), stdout=out)

    assert "Consent log intact: 5 records" in out.getvalue()
    assert "compared with the anchor of" in out.getvalue()
