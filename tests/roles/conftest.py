from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User

from subscribers.models import ConsentRecord
from subscribers.services.consent import subscriber_subscribe


def member(role: str) -> User:
    """A staff user whose only permissions are those of one role's group."""
    user = User.objects.create_user(username=role.lower().replace(" ", "-"), is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def client(client):
    """The admin in English: the assertions read the source strings."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def citizen(privacy_notice) -> str:
    """A number subscribed with the keyword, through the real service."""
    phone = "+393331234567"
    subscriber_subscribe(
        phone=phone,
        occurred_at=datetime.now(UTC) - timedelta(days=1),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.citizen", "text": "Iscrivimi"},
    )
    return phone
