"""Meta's `user_preferences` webhook, as Meta posts it: a citizen's stop and resume of
marketing messages reach their subscriber, signed bodies only."""

from datetime import UTC, datetime, timedelta

import pytest

from subscribers.models import ConsentRecord, Subscriber
from subscribers.services.consent import subscriber_subscribe
from tests.conftest import load_payload

pytestmark = pytest.mark.django_db

GIULIA = "+393338888888"  # the stored payloads' citizen


@pytest.fixture
def giulia(privacy_notice) -> Subscriber:
    subscriber, _outcome = subscriber_subscribe(
        phone=GIULIA,
        occurred_at=datetime.now(UTC) - timedelta(days=2),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.giulia", "text": "Iscrivimi"},
    )
    return subscriber


def marketing_stopped_at() -> datetime | None:
    return Subscriber.objects.get(phone=GIULIA).marketing_stopped_at


def test_a_stop_then_a_resume(post_webhook, giulia):
    assert post_webhook(load_payload("user_preferences_marketing_stop")).status_code == 200
    assert marketing_stopped_at() == datetime.fromtimestamp(1764004500, tz=UTC)

    assert post_webhook(load_payload("user_preferences_marketing_resume")).status_code == 200
    subscriber = Subscriber.objects.get(phone=GIULIA)
    assert subscriber.marketing_stopped_at is None
    assert subscriber.marketing_preference_at == datetime.fromtimestamp(1764090900, tz=UTC)
    assert subscriber.status == Subscriber.Status.ACTIVE  # marketing only: still subscribed


def test_an_unsigned_stop_changes_nothing(post_webhook, giulia):
    assert (
        post_webhook(load_payload("user_preferences_marketing_stop"), signature=None).status_code
        == 403
    )
    assert marketing_stopped_at() is None


def test_a_stop_batched_with_statuses_is_recorded(post_webhook, giulia):
    payload = load_payload("status_sent_delivered_read")
    payload["entry"][0]["changes"] += load_payload("user_preferences_marketing_stop")["entry"][0][
        "changes"
    ]
    assert post_webhook(payload).status_code == 200
    assert marketing_stopped_at() is not None


def test_a_stop_from_a_number_that_is_not_subscribed_makes_no_subscriber(post_webhook, db):
    assert post_webhook(load_payload("user_preferences_marketing_stop")).status_code == 200
    assert not Subscriber.objects.exists()
