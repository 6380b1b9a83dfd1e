"""A broadcast's lifecycle as staff observe it: approval and four eyes, emergencies, scheduling,
quiet hours, cancelling (tasks run in-process here)."""

from datetime import UTC, datetime, timedelta

import pytest

import gateway
from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast, Delivery
from broadcasts.services import fanout
from subscribers.models import Subscriber
from tests.broadcasts.steps import approve, emergency_draft, events, sending

pytestmark = pytest.mark.django_db

A, B, C = "+393331111111", "+393332222222", "+393333333333"


def test_an_approved_broadcast_reaches_every_subscriber_once(
    draft, approver, subscribe, unsubscribe, whatsapp_outbox, run_on_commit
):
    subscribe(A, B, C)
    unsubscribe(C)

    approve(draft, approver, run_on_commit)

    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.SENT
    assert sorted(m.to for m in whatsapp_outbox) == [A, B]
    # Outside the 24-hour window only a template is delivered.
    assert all(isinstance(m, gateway.TemplateMessage) for m in whatsapp_outbox)
    assert whatsapp_outbox[0].rendered_body() == (
        "Avviso dal Comune: via Roma chiusa domani dalle 8 alle 18"
    )
    counts = selectors.broadcast_delivery_counts(broadcast_id=draft.pk)
    assert (counts.total, counts.sent, counts.queued, counts.failed) == (2, 2, 0, 0)
    assert events(draft) == [
        ("created", "editor"),
        ("submitted", "editor"),
        ("approved", "approver"),
        ("sending started", None),
        ("sent", None),
    ]


def test_inside_the_window_the_text_goes_as_written(
    draft, approver, subscribe, whatsapp_outbox, run_on_commit
):
    subscribe(A, at=datetime.now(UTC) - timedelta(hours=1))
    Subscriber.objects.update(last_inbound_at=datetime.now(UTC) - timedelta(hours=1))

    approve(draft, approver, run_on_commit)

    [message] = whatsapp_outbox
    assert isinstance(message, gateway.TextMessage)
    assert message.body == draft.body
    assert message.callback_data == f"d:{Delivery.objects.get().pk}"


def test_the_author_cannot_approve_their_own_broadcast(draft, editor, settings):
    editor.user_permissions.add(*approver_permissions())
    editor = type(editor).objects.get(pk=editor.pk)
    lifecycle.broadcast_submit(broadcast=draft, actor=editor)

    with pytest.raises(lifecycle.TransitionNotAllowed, match="Another person"):
        lifecycle.broadcast_approve(broadcast=draft, actor=editor)

    settings.BROADCAST_FOUR_EYES = False  # a one-person office
    assert lifecycle.broadcast_approve(broadcast=draft, actor=editor).status == "approved"


def approver_permissions():
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename="approve_broadcast")


def test_an_editor_cannot_approve(draft, editor):
    lifecycle.broadcast_submit(broadcast=draft, actor=editor)
    other_editor = type(editor).objects.create_user("other", is_staff=True)

    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.broadcast_approve(broadcast=draft, actor=other_editor)
    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.AWAITING_APPROVAL


def test_an_emergency_is_approved_and_sent_in_one_step_by_its_author(
    emergency_sender, subscribe, whatsapp_outbox, run_on_commit
):
    subscribe(A)
    emergency = emergency_draft(emergency_sender)
    with run_on_commit():
        lifecycle.broadcast_send_emergency(broadcast=emergency, actor=emergency_sender)

    emergency.refresh_from_db()
    assert emergency.status == Broadcast.Status.SENT
    assert [m.to for m in whatsapp_outbox] == [A]


def test_a_normal_broadcast_cannot_skip_approval(draft, approver):
    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.broadcast_send_emergency(broadcast=draft, actor=approver)


def test_a_scheduled_broadcast_starts_at_its_time_and_only_once(
    draft, approver, subscribe, whatsapp_outbox, run_on_commit
):
    subscribe(A)
    send_at = datetime.now(UTC) + timedelta(hours=2)
    approve(draft, approver, run_on_commit, scheduled_at=send_at)
    assert whatsapp_outbox == []

    assert fanout.broadcasts_dispatch_due(now=send_at - timedelta(seconds=1)) == []
    with run_on_commit():
        assert fanout.broadcasts_dispatch_due(now=send_at) == [draft.pk]
    assert fanout.broadcasts_dispatch_due(now=send_at + timedelta(seconds=5)) == []

    assert [m.to for m in whatsapp_outbox] == [A]


def test_quiet_hours_hold_a_normal_broadcast_but_not_an_emergency(
    draft, approver, emergency_sender, settings
):
    settings.BROADCAST_QUIET_HOURS = (
        datetime.strptime("21:00", "%H:%M").time(),
        datetime.strptime("08:00", "%H:%M").time(),
    )
    settings.TIME_ZONE = "Europe/Rome"
    night = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # 23:30 in Rome
    morning = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)  # 08:00 in Rome
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    lifecycle.broadcast_approve(broadcast=draft, actor=approver)
    emergency = emergency_draft(approver)
    lifecycle.broadcast_send_emergency(broadcast=emergency, actor=emergency_sender)

    assert fanout.broadcasts_dispatch_due(now=night) == [emergency.pk]
    assert fanout.broadcasts_dispatch_due(now=morning) == [draft.pk]


def test_cancel_ends_the_rows_not_yet_sent(draft, approver, subscribe):
    subscribe(A, B)
    sending(draft, approver)

    lifecycle.broadcast_cancel(broadcast=draft, actor=approver)

    assert set(Delivery.objects.values_list("status", "error_title")) == {
        ("failed", "Broadcast cancelled")
    }
    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.CANCELLED
    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.broadcast_resume(broadcast=draft, actor=approver)
