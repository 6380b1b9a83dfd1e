"""A citizen who changes number (Meta's `user_changed_number`, sent from the old number) keeps
their subscription at the new one; the old number gets nothing more (issue 15, point 6)."""

import logging
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from broadcasts import lifecycle
from broadcasts.models import Delivery
from subscribers.models import ConsentRecord, InboundMessage, Subscriber
from subscribers.services.consent import subscriber_subscribe
from subscribers.services.pseudonyms import subscriber_pseudonym
from tests.conftest import as_just_sent, load_payload, text_payload

pytestmark = pytest.mark.django_db

OLD, NEW = "+393331234567", "+393331112223"  # the stored notice's numbers
NOTICE_ID = "wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhggSDhE"


def number_changed(name: str = "inbound_system_number_changed") -> dict:
    return as_just_sent(load_payload(name))


def notice_time(payload: dict) -> datetime:
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    return datetime.fromtimestamp(int(message["timestamp"]), UTC)


def verify() -> str:
    out = StringIO()
    call_command("verify_consent_log", stdout=out)
    return out.getvalue()


@pytest.fixture
def subscribed(post_webhook, privacy_notice, run_on_commit, whatsapp_outbox) -> Subscriber:
    """Maria subscribed from her old number two days ago, and read the confirmation."""
    at = datetime.now(UTC) - timedelta(days=2)
    with run_on_commit():
        post_webhook(text_payload("Iscrivimi", phone=OLD[1:], wamid="wamid.join", at=at))
    whatsapp_outbox.clear()
    return Subscriber.objects.get(phone=OLD)


def test_the_subscription_and_its_consent_trail_follow_the_citizen(
    subscribed, post_webhook, whatsapp_outbox, run_on_commit, caplog
):
    caplog.set_level(logging.DEBUG)
    payload = number_changed()
    with run_on_commit():
        response = post_webhook(payload)

    assert response.status_code == 200
    moved = Subscriber.objects.get()
    assert (moved.pk, moved.phone, moved.status) == (subscribed.pk, NEW, "active")
    assert (moved.subscribed_at, moved.keyword_at) == (
        subscribed.subscribed_at,
        subscribed.keyword_at,
    )
    granted, change = moved.consents.order_by("sequence")
    assert granted.action == ConsentRecord.Action.GRANTED  # the trail, untouched, is theirs
    assert (change.action, change.channel) == ("number_changed", "whatsapp")
    assert change.occurred_at == notice_time(payload)
    assert change.notice_id == granted.notice_id
    assert change.evidence == {
        "message_id": NOTICE_ID,
        "kind": "number_changed",
        "previous_pseudonym": subscriber_pseudonym(address=OLD),
        "pseudonym": subscriber_pseudonym(address=NEW),
    }
    assert whatsapp_outbox == []  # WhatsApp's notice earns no reply
    notice = InboundMessage.objects.get(wamid=NOTICE_ID)
    assert (notice.intent, notice.reply, notice.subscriber) == ("number_changed", "", moved)
    assert "Consent log intact: 2 records" in verify()
    # Neither number in any log line at INFO or above.
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            assert OLD[3:] not in record.getMessage() and NEW[3:] not in record.getMessage()


def test_a_redelivered_notice_moves_nobody_twice(subscribed, post_webhook):
    payload = number_changed()
    post_webhook(payload)
    post_webhook(payload)

    assert Subscriber.objects.get().phone == NEW
    assert ConsentRecord.objects.filter(action="number_changed").count() == 1


def test_broadcasts_go_to_the_new_number_only(
    subscribed, post_webhook, draft, approver, run_on_commit, whatsapp_outbox
):
    post_webhook(number_changed())
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    with run_on_commit():
        lifecycle.broadcast_approve(broadcast=draft, actor=approver)

    assert [message.to for message in whatsapp_outbox] == [NEW]
    assert list(Delivery.objects.values_list("subscriber__phone", flat=True)) == [NEW]


def test_the_new_user_ids_come_along(privacy_notice, post_webhook):
    # Known by number and by the old business-scoped user id; the notice names the new one.
    Subscriber.objects.create(phone=OLD, wa_user_id="IT.1502576394655843")
    post_webhook(number_changed("inbound_system_number_changed_user_ids"))

    moved = Subscriber.objects.get()
    assert (moved.phone, moved.wa_user_id) == ("+393339876543", "IT.1502981273645510")


def test_a_keyword_written_from_the_old_number_before_the_change_is_ignored(
    subscribed, post_webhook, whatsapp_outbox, run_on_commit
):
    payload = number_changed()
    post_webhook(payload)
    # Meta redelivers, late, a Cancellami the citizen wrote from the old number before moving.
    before = notice_time(payload) - timedelta(minutes=1)
    with run_on_commit():
        post_webhook(text_payload("Cancellami", phone=OLD[1:], wamid="wamid.late", at=before))

    assert whatsapp_outbox == []
    assert Subscriber.objects.get().status == "active"
    assert InboundMessage.objects.get(wamid="wamid.late").intent == "ignored"


def test_whoever_writes_from_the_old_number_afterwards_is_someone_new(
    subscribed, post_webhook, whatsapp_outbox, run_on_commit
):
    payload = number_changed()
    post_webhook(payload)
    # The telephone company gave the old number to someone else, who subscribes.
    after = notice_time(payload) + timedelta(seconds=30)
    with run_on_commit():
        post_webhook(text_payload("Iscrivimi", phone=OLD[1:], wamid="wamid.newcomer", at=after))

    newcomer = Subscriber.objects.get(phone=OLD)
    assert newcomer.pk != subscribed.pk
    assert list(newcomer.consents.values_list("action", flat=True)) == ["granted"]
    assert [message.to for message in whatsapp_outbox] == [OLD]
    assert "Consent log intact: 3 records" in verify()


def test_when_the_new_number_already_subscribed_itself_the_old_row_is_retired(
    subscribed, post_webhook, run_on_commit, whatsapp_outbox
):
    # She wrote Iscrivimi from the new phone before Meta's notice reached us.
    payload = number_changed()
    first = notice_time(payload) - timedelta(minutes=5)
    with run_on_commit():
        post_webhook(text_payload("Iscrivimi", phone=NEW[1:], wamid="wamid.new", at=first))
    whatsapp_outbox.clear()
    with run_on_commit():
        post_webhook(payload)

    at_new = Subscriber.objects.get(phone=NEW)
    retired = Subscriber.objects.get(pk=subscribed.pk)
    assert (retired.phone, retired.wa_user_id, retired.status) == (None, None, "unsubscribed")
    assert retired.pseudonym == subscriber_pseudonym(address=OLD)
    withdrawn = retired.consents.order_by("sequence").last()
    assert (withdrawn.action, withdrawn.channel) == ("withdrawn", "whatsapp")
    assert withdrawn.evidence["message_id"] == NOTICE_ID
    assert withdrawn.evidence["moved_to"] == at_new.pk
    assert at_new.status == "active"
    assert whatsapp_outbox == []
    assert InboundMessage.objects.get(wamid=NOTICE_ID).subscriber == at_new
    assert "Consent log intact: 3 records" in verify()


def test_a_notice_from_a_number_nobody_subscribed_changes_nothing(
    privacy_notice, post_webhook, whatsapp_outbox, run_on_commit
):
    with run_on_commit():
        assert post_webhook(number_changed()).status_code == 200

    assert Subscriber.objects.count() == 0
    assert ConsentRecord.objects.count() == 0
    assert whatsapp_outbox == []


def test_a_previous_owner_s_row_at_the_new_number_gives_way(
    subscribed, post_webhook, run_on_commit, whatsapp_outbox
):
    # A year ago the new number was someone else's, who subscribed; the number is Maria's now.
    payload = number_changed()
    previous_owner, _ = subscriber_subscribe(
        phone=NEW,
        occurred_at=notice_time(payload) - timedelta(days=365),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.before", "text": "Iscrivimi"},
    )
    with run_on_commit():
        post_webhook(payload)

    moved = Subscriber.objects.get(phone=NEW)
    assert (moved.pk, moved.status) == (subscribed.pk, "active")
    assert moved.consents.order_by("sequence").last().action == "number_changed"
    previous_owner.refresh_from_db()
    assert (previous_owner.phone, previous_owner.status) == (None, "unsubscribed")
    withdrawn = previous_owner.consents.order_by("sequence").last()
    assert (withdrawn.action, withdrawn.evidence["moved_to"]) == ("withdrawn", moved.pk)
    assert whatsapp_outbox == []
    assert "Consent log intact: 4 records" in verify()
