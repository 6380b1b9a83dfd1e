"""A citizen can always leave (issue 13, finding 8): a Cancellami whose WhatsApp user id already
belongs to another row of the same citizen withdraws every row, answers 200, and never blocks
the messages Meta batched with it."""

from datetime import UTC, datetime, timedelta

import pytest

from gateway.testing import inbound_text, webhook_body
from subscribers.models import ConsentRecord, InboundMessage, Subscriber
from subscribers.services.consent import subscriber_subscribe

pytestmark = pytest.mark.django_db

NUMBER = "+393331234567"
USER_ID = "IT.1234567890"


@pytest.fixture
def known_twice(privacy_notice):
    """The same citizen subscribed once by number and once, with no number, by user id."""
    at = datetime.now(UTC) - timedelta(days=1)
    evidence = {"message_id": "wamid.old", "text": "Iscrivimi"}
    by_number, _ = subscriber_subscribe(
        phone=NUMBER, occurred_at=at, channel="whatsapp", evidence=evidence
    )
    by_user_id, _ = subscriber_subscribe(
        phone=None, wa_user_id=USER_ID, occurred_at=at, channel="whatsapp", evidence=evidence
    )
    return by_number, by_user_id


def _message(text: str, *, wa_id: str, wamid: str, user_id: str | None = None) -> dict:
    value = inbound_text(wa_id=wa_id, text=text, message_id=wamid)
    if user_id:
        value["contacts"][0]["user_id"] = user_id
        value["messages"][0]["from_user_id"] = user_id
    return value


def test_cancellami_withdraws_every_row_of_the_citizen(known_twice, post_webhook, run_on_commit):
    body = webhook_body(
        _message("Cancellami", wa_id=NUMBER[1:], wamid="wamid.bye", user_id=USER_ID)
    )
    with run_on_commit():
        response = post_webhook(body)

    assert response.status_code == 200
    statuses = set(Subscriber.objects.values_list("status", flat=True))
    assert statuses == {Subscriber.Status.UNSUBSCRIBED}
    withdrawn = ConsentRecord.objects.filter(action=ConsentRecord.Action.WITHDRAWN)
    assert withdrawn.count() == 2


def test_a_refused_message_does_not_block_the_others_in_its_post(
    known_twice, post_webhook, run_on_commit, monkeypatch, caplog
):
    from django.db import IntegrityError

    from subscribers.services import inbound

    real = inbound.inbound_message_receive

    def refuse_the_first(*, message):
        if message.message_id == "wamid.bad":
            raise IntegrityError(f"duplicate key value (wa_user_id)=({USER_ID})")
        return real(message=message)

    monkeypatch.setattr("webhooks.services.inbound_message_receive", refuse_the_first)
    body = webhook_body(
        _message("Iscrivimi", wa_id="393330000001", wamid="wamid.bad"),
        _message("Iscrivimi", wa_id="393330000002", wamid="wamid.good"),
    )
    with run_on_commit():
        response = post_webhook(body)

    assert response.status_code == 200
    assert InboundMessage.objects.filter(wamid="wamid.good").exists()
    assert Subscriber.objects.get(phone="+393330000002").status == Subscriber.Status.ACTIVE
    assert USER_ID not in caplog.text
