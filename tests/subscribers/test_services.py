"""What a citizen observes when writing to the comune's number."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import TestCase

import gateway
from subscribers.models import ConsentRecord, InboundMessage, Subscriber
from subscribers.services import consent, inbound

pytestmark = pytest.mark.django_db

PHONE = "+393331234567"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def receive(
    text=None,
    *,
    at=T0,
    wamid=None,
    phone=PHONE,
    kind=gateway.InboundKind.TEXT,
    wa_type="text",
    user_id=None,
):
    message = gateway.InboundMessage(
        message_id=wamid or f"wamid.{at.timestamp()}.{text}.{wa_type}",
        timestamp=at,
        kind=kind,
        wa_type=wa_type,
        phone=phone,
        user_id=user_id,
        text=text,
    )
    # Replies are scheduled on commit; run them as a committed request would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return inbound.inbound_message_receive(message=message)


def replies(outbox):
    return [message.body for message in outbox]


def test_subscribe_then_repeat_is_answered_kindly_without_a_second_record(
    privacy_notice, whatsapp_outbox
):
    receive("Iscrivimi")
    receive("iscrivimi grazie 🙏", at=T0 + timedelta(minutes=1))

    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE
    assert ConsentRecord.objects.count() == 1
    first, second = replies(whatsapp_outbox)
    assert "Benvenuto" in first
    assert "già iscritto" in second


def test_unsubscribe_when_not_subscribed_is_answered_and_records_nothing(
    privacy_notice, whatsapp_outbox
):
    receive("Cancellami")

    assert not ConsentRecord.objects.exists()
    assert "non risulta iscritto" in replies(whatsapp_outbox)[0]


def test_a_late_iscrivimi_older_than_cancellami_does_not_resubscribe(privacy_notice):
    # The citizen wrote Iscrivimi at 9:00 and Cancellami at 9:05; Meta delivered them reversed.
    receive("Cancellami", at=T0 + timedelta(minutes=5))
    receive("Iscrivimi", at=T0)

    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED
    assert not ConsentRecord.objects.exists()


def test_a_late_cancellami_older_than_a_resubscription_does_not_unsubscribe(privacy_notice):
    receive("Iscrivimi", at=T0)
    receive("Iscrivimi", at=T0 + timedelta(minutes=10), wamid="wamid.again")
    receive("Cancellami", at=T0 + timedelta(minutes=5))

    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.ACTIVE
    assert list(subscriber.consents.values_list("action", flat=True)) == ["granted"]


def test_state_follows_the_citizens_own_times_in_any_arrival_order(privacy_notice):
    times = [T0 + timedelta(minutes=m) for m in range(4)]
    keywords = ["Iscrivimi", "Cancellami", "Iscrivimi", "Cancellami"]
    for index in (2, 0, 3, 1):
        receive(keywords[index], at=times[index])

    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED


def test_consent_stays_tied_to_the_version_accepted(privacy_notice):
    receive("Iscrivimi")
    consent.privacy_notice_publish(version="2.0", title="Nuova", body="Testo nuovo.")
    receive("Iscrivimi", phone="+393339999999", wamid="wamid.other")

    versions = dict(ConsentRecord.objects.values_list("subscriber__phone", "notice__version"))
    assert versions == {PHONE: "1.0", "+393339999999": "2.0"}


def test_without_a_privacy_notice_nobody_is_subscribed():
    with pytest.raises(consent.NoCurrentPrivacyNotice):
        receive("Iscrivimi")
    assert not ConsentRecord.objects.exists()
    assert not InboundMessage.objects.exists()


def test_other_messages_get_the_one_way_notice_once_a_day(privacy_notice, whatsapp_outbox):
    receive("Buongiorno, c'è una buca in via Roma")
    receive(None, kind=gateway.InboundKind.MEDIA, wa_type="image", at=T0 + timedelta(minutes=1))
    receive("Ancora io", at=T0 + timedelta(minutes=2))

    [notice] = replies(whatsapp_outbox)
    assert "solo informazioni" in notice
    assert "Ufficio Relazioni con il Pubblico" in notice
    # Nothing of the content is kept.
    assert set(InboundMessage.objects.values_list("text", flat=True)) == {""}


def test_reactions_and_system_notices_get_no_reply(privacy_notice, whatsapp_outbox):
    receive(None, kind=gateway.InboundKind.REACTION, wa_type="reaction")
    receive(None, kind=gateway.InboundKind.SYSTEM, wa_type="system", at=T0 + timedelta(seconds=1))

    assert whatsapp_outbox == []


def test_help_explains_the_keywords(privacy_notice, whatsapp_outbox):
    receive("aiuto")

    [answer] = replies(whatsapp_outbox)
    assert "Iscrivimi" in answer and "Cancellami" in answer


def test_a_citizen_known_only_by_user_id_can_subscribe(privacy_notice, whatsapp_outbox):
    receive("Iscrivimi", phone=None, user_id="IT.1234567890")

    subscriber = Subscriber.objects.get()
    assert subscriber.phone is None
    assert subscriber.wa_user_id == "IT.1234567890"
    assert whatsapp_outbox[0].to == "IT.1234567890"


def test_any_message_opens_the_24_hour_window(privacy_notice):
    receive("Iscrivimi")
    receive("grazie!", at=T0 + timedelta(hours=3))

    assert Subscriber.objects.get().last_inbound_at == T0 + timedelta(hours=3)


def test_an_unreachable_subscriber_writing_again_is_active(privacy_notice):
    receive("Iscrivimi")
    Subscriber.objects.update(status=Subscriber.Status.UNREACHABLE)
    receive("Iscrivimi", at=T0 + timedelta(days=3))

    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE
    assert ConsentRecord.objects.count() == 1


# --- The citizen's new number -----------------------------------------------------------------

NEW_PHONE = "+393339876543"


def number_changed(*, at, phone=PHONE, user_id=None, new_user_id=None, wamid="wamid.moved"):
    message = gateway.InboundMessage(
        message_id=wamid,
        timestamp=at,
        kind=gateway.InboundKind.NUMBER_CHANGED,
        wa_type="system",
        phone=phone,
        user_id=user_id,
        new_phone=NEW_PHONE,
        new_user_id=new_user_id,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        return inbound.inbound_message_receive(message=message)


def test_preferences_follow_the_citizen_and_the_old_number_s_failures_do_not(
    privacy_notice, whatsapp_outbox
):
    receive("Iscrivimi")
    stopped = T0 + timedelta(hours=1)
    # The old number had stopped answering; the citizen had asked WhatsApp to stop marketing
    # messages (Meta's 131050), a choice of theirs, not of the number's.
    Subscriber.objects.update(
        status=Subscriber.Status.UNREACHABLE,
        undeliverable_count=3,
        marketing_stopped_at=stopped,
        marketing_preference_at=stopped,
    )
    whatsapp_outbox.clear()
    number_changed(at=T0 + timedelta(days=1))

    moved = Subscriber.objects.get()
    assert (moved.phone, moved.status, moved.undeliverable_count) == (NEW_PHONE, "active", 0)
    assert (moved.marketing_stopped_at, moved.marketing_preference_at) == (stopped, stopped)
    assert moved.last_inbound_at == T0  # WhatsApp's notice is not the citizen writing
    assert whatsapp_outbox == []


def test_an_unsubscribed_citizen_s_trail_follows_them_too(privacy_notice):
    receive("Iscrivimi")
    receive("Cancellami", at=T0 + timedelta(minutes=5))
    number_changed(at=T0 + timedelta(days=1))

    moved = Subscriber.objects.get()
    assert (moved.phone, moved.status) == (NEW_PHONE, "unsubscribed")
    assert list(moved.consents.order_by("sequence").values_list("action", flat=True)) == [
        "granted",
        "withdrawn",
        "number_changed",
    ]
    # A keyword older than their Cancellami is still stale at the new number: the time of
    # their newest keyword moved with them.
    receive("Iscrivimi", at=T0 + timedelta(minutes=1), phone=NEW_PHONE, wamid="wamid.stale")
    assert Subscriber.objects.get().status == "unsubscribed"


def test_a_citizen_known_only_by_user_id_moves_to_the_new_number(privacy_notice):
    receive("Iscrivimi", phone=None, user_id="IT.1234567890")
    number_changed(at=T0 + timedelta(days=1), phone=None, user_id="IT.1234567890")

    moved = Subscriber.objects.get()
    assert (moved.phone, moved.wa_user_id, moved.status) == (NEW_PHONE, None, "active")


def test_a_reply_earned_before_the_move_is_not_sent_to_the_old_number(
    privacy_notice, whatsapp_outbox
):
    message = gateway.InboundMessage(
        message_id="wamid.join",
        timestamp=T0,
        kind=gateway.InboundKind.TEXT,
        wa_type="text",
        phone=PHONE,
        text="Iscrivimi",
    )
    with TestCase.captureOnCommitCallbacks() as reply_task:
        inbound.inbound_message_receive(message=message)
    number_changed(at=T0 + timedelta(seconds=5))
    for callback in reply_task:  # the reply's task runs only now, after the move
        callback()

    assert whatsapp_outbox == []
    assert Subscriber.objects.get().phone == NEW_PHONE
