from datetime import UTC, datetime, timedelta

import pytest

from broadcasts import lifecycle
from broadcasts.models import Broadcast
from broadcasts.services import authoring
from subscribers.models import ConsentRecord
from subscribers.services.consent import subscriber_subscribe
from tests.factories import MessageTemplateFactory, staff


@pytest.fixture
def send_broadcast(privacy_notice, django_capture_on_commit_callbacks):
    """Write, approve and send a broadcast to one subscriber, through the services staff use."""
    author = staff("author", "add_broadcast", "change_broadcast")
    approver = staff("approver", "change_broadcast", "approve_broadcast")
    subscriber_subscribe(
        phone="+393331112222",
        occurred_at=datetime.now(UTC) - timedelta(hours=1),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.public", "text": "Iscrivimi"},
    )

    # The citizen subscribed an hour ago, but not by writing: only a template reaches them.
    template = MessageTemplateFactory()

    def send(title: str, body: str = "Testo dell'avviso.", *, is_public: bool = True) -> Broadcast:
        broadcast = authoring.broadcast_create(
            template=template,
            template_parameters=[title],
            author=author,
            title=title,
            body=body,
            category=Broadcast.Category.PUBLIC_UTILITY,
            is_public=is_public,
        )
        lifecycle.broadcast_submit(broadcast=broadcast, actor=author)
        with django_capture_on_commit_callbacks(execute=True):
            lifecycle.broadcast_approve(broadcast=broadcast, actor=approver)
        broadcast.refresh_from_db()
        assert broadcast.status == Broadcast.Status.SENT
        return broadcast

    return send
