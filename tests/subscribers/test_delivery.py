"""What WhatsApp tells us about a citizen's number, remembered: their marketing choice (ordered
by their own time), and what failed sends say (`subscribers.services.delivery`)."""

from datetime import UTC, datetime, timedelta

import pytest

import gateway
from subscribers.models import ConsentRecord, Subscriber
from subscribers.services.consent import subscriber_subscribe
from subscribers.services.delivery import (
    UNDELIVERABLE_LIMIT,
    subscriber_marketing_preference_record,
    subscribers_note_reached,
    subscribers_note_send_failure,
)

pytestmark = pytest.mark.django_db

PHONE = "+393338888888"
USER_ID = "IT.1502938475610293"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def citizen(privacy_notice) -> Subscriber:
    subscriber, _outcome = subscriber_subscribe(
        phone=PHONE,
        wa_user_id=USER_ID,
        occurred_at=T0 - timedelta(days=1),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.hello", "text": "Iscrivimi"},
    )
    return subscriber


def choose(stopped: bool, at: datetime, *, phone=PHONE, user_id=None) -> bool:
    return subscriber_marketing_preference_record(
        preference=gateway.MarketingPreference(
            stopped=stopped, timestamp=at, phone=phone, user_id=user_id
        )
    )


def stopped_at() -> datetime | None:
    return Subscriber.objects.get(phone=PHONE).marketing_stopped_at


def test_a_stop_and_a_resume(citizen):
    assert choose(True, T0)
    assert stopped_at() == T0
    assert choose(False, T0 + timedelta(hours=1))
    assert stopped_at() is None


def test_choices_arriving_out_of_order_end_in_the_citizens_latest(citizen):
    assert choose(False, T0 + timedelta(hours=1))
    assert not choose(True, T0)  # older: Meta delivered it late
    assert stopped_at() is None
    assert not choose(False, T0 + timedelta(hours=1))  # the same, redelivered
    assert Subscriber.objects.get().marketing_preference_at == T0 + timedelta(hours=1)


def test_a_citizen_known_by_user_id_only_is_found_by_it(citizen):
    assert choose(True, T0, phone=None, user_id=USER_ID)
    assert stopped_at() == T0


def test_a_choice_from_a_number_we_do_not_know_keeps_nothing(citizen):
    assert not choose(True, T0, phone="+393330000000")
    assert Subscriber.objects.count() == 1
    assert stopped_at() is None


def test_131050_stops_marketing_unless_the_citizen_resumed_since(citizen):
    subscribers_note_send_failure(
        condition=gateway.RecipientCondition.MARKETING_STOPPED,
        subscriber_ids=[citizen.pk],
        at=T0,
    )
    assert stopped_at() == T0
    choose(False, T0 + timedelta(hours=1))
    # A failure reported late, of a message sent before the resume, does not undo it.
    subscribers_note_send_failure(
        condition=gateway.RecipientCondition.MARKETING_STOPPED,
        subscriber_ids=[citizen.pk],
        at=T0 + timedelta(minutes=30),
    )
    assert stopped_at() is None


def test_writing_to_us_does_not_lift_a_stop_on_marketing(citizen):
    from subscribers.services.inbound import inbound_message_receive

    choose(True, T0)
    inbound_message_receive(
        message=gateway.InboundMessage(
            message_id="wamid.ciao",
            timestamp=T0 + timedelta(hours=1),
            kind=gateway.InboundKind.TEXT,
            wa_type="text",
            phone=PHONE,
            text="ciao",
        )
    )
    subscriber = Subscriber.objects.get()
    assert subscriber.last_inbound_at == T0 + timedelta(hours=1)
    assert subscriber.marketing_stopped_at == T0


def test_undeliverable_a_few_times_in_a_row_is_unreachable_until_a_message_arrives(citizen):
    for _ in range(UNDELIVERABLE_LIMIT - 1):
        subscribers_note_send_failure(
            condition=gateway.RecipientCondition.UNDELIVERABLE, subscriber_ids=[citizen.pk]
        )
    subscribers_note_reached(subscriber_ids=[citizen.pk])
    for _ in range(UNDELIVERABLE_LIMIT):
        subscribers_note_send_failure(
            condition=gateway.RecipientCondition.UNDELIVERABLE, subscriber_ids=[citizen.pk]
        )
    assert Subscriber.objects.get().status == Subscriber.Status.UNREACHABLE
