"""What the broadcast admin's tests share: the admin in English and three subscribed citizens."""

from datetime import UTC, datetime, timedelta

import pytest

from broadcasts.models import MessageTemplate
from subscribers.models import ConsentRecord, Subscriber
from subscribers.services.consent import subscriber_subscribe
from tests.broadcasts.admin_pages import A, B, C


@pytest.fixture
def client(client):
    """The admin in English: the assertions read the source strings, whatever translation ships."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def subscribers(privacy_notice) -> list[Subscriber]:
    """Three citizens subscribed with the keyword two days ago, through the real service."""
    return [
        subscriber_subscribe(
            phone=phone,
            occurred_at=datetime.now(UTC) - timedelta(days=2),
            channel=ConsentRecord.Channel.WHATSAPP,
            evidence={"message_id": f"wamid.{phone}", "text": "Iscrivimi"},
        )[0]
        for phone in (A, B, C)
    ]


@pytest.fixture
def two_parameter_template(db) -> MessageTemplate:
    return MessageTemplate.objects.create(
        name="chiusura_strada",
        language="it",
        status="APPROVED",
        body="Chiusura di {{1}} il giorno {{2}}.",
    )
