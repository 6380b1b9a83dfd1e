"""The embedded mode's scheduler does beat's work in one loop."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import TestCase

from broadcasts import services
from broadcasts.models import Broadcast
from subscribers.models import InboundMessage

pytestmark = pytest.mark.django_db


def test_one_pass_starts_due_broadcasts_and_applies_retention(
    draft, approver, subscribe, whatsapp_outbox, monkeypatch
):
    subscribe("+393331111111")
    monkeypatch.setattr(services, "_dispatch_soon", lambda: None)  # as if no worker ran it
    services.broadcast_submit(broadcast=draft, actor=draft.created_by)
    services.broadcast_approve(broadcast=draft, actor=approver)
    old = InboundMessage.objects.create(
        wamid="wamid.old",
        phone="+393339999999",
        wa_type="text",
        intent="other",
        occurred_at=datetime.now(UTC) - timedelta(days=90),
    )
    InboundMessage.objects.filter(pk=old.pk).update(received_at=old.occurred_at)

    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("run_scheduler", "--once")

    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.SENT
    assert [m.to for m in whatsapp_outbox] == ["+393331111111"]
    assert not InboundMessage.objects.filter(pk=old.pk).exists()
