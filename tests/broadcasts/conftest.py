from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import TestCase

from broadcasts.models import Broadcast, MessageTemplate
from broadcasts.services import authoring
from subscribers.models import ConsentRecord
from subscribers.services.consent import subscriber_subscribe, subscriber_unsubscribe


def staff(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)  # fresh permission cache


EDITOR_PERMISSIONS = ("add_broadcast", "change_broadcast", "view_broadcast")


@pytest.fixture
def editor(db) -> User:
    return staff("editor", *EDITOR_PERMISSIONS)


@pytest.fixture
def approver(db) -> User:
    return staff("approver", *EDITOR_PERMISSIONS, "approve_broadcast")


@pytest.fixture
def subscribe(privacy_notice):
    """Subscribe citizens through the same service a keyword uses."""

    def subscribe(*phones: str, at: datetime | None = None) -> None:
        for phone in phones:
            subscriber_subscribe(
                phone=phone,
                occurred_at=at or datetime.now(UTC) - timedelta(days=2),
                channel=ConsentRecord.Channel.WHATSAPP,
                evidence={"message_id": f"wamid.{phone}", "text": "Iscrivimi"},
            )

    return subscribe


@pytest.fixture
def unsubscribe(privacy_notice):
    def unsubscribe(phone: str) -> None:
        subscriber_unsubscribe(
            phone=phone,
            occurred_at=datetime.now(UTC),
            channel=ConsentRecord.Channel.WHATSAPP,
            evidence={"message_id": f"wamid.bye.{phone}", "text": "Cancellami"},
        )

    return unsubscribe


@pytest.fixture
def template(db) -> MessageTemplate:
    return MessageTemplate.objects.create(
        name="avviso_comune",
        language="it",
        category="UTILITY",
        status="APPROVED",
        body="Avviso dal Comune: {{1}}",
    )


@pytest.fixture
def draft(editor, template) -> Broadcast:
    return authoring.broadcast_create(
        author=editor,
        title="Chiusura via Roma",
        body="Via Roma chiusa *domani* dalle 8 alle 18.",
        category=Broadcast.Category.TRAFFIC,
        template=template,
        template_parameters=["via Roma chiusa domani dalle 8 alle 18"],
    )


@pytest.fixture
def run_on_commit():
    """Run what services schedule on commit (tasks run in-process in the tests)."""
    return lambda: TestCase.captureOnCommitCallbacks(execute=True)
