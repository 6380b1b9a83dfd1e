"""Issue 15, point 1: who a broadcast reaches before it is approved, and each send picking the
text inside the citizen's 24-hour window and the template outside it (invariant 7)."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.urls import reverse

import gateway
from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast, BroadcastEvent, Delivery
from broadcasts.services import authoring, fanout, sending
from subscribers.services.inbound import inbound_message_receive
from tests.broadcasts.admin_pages import buttons, change_url, make_draft, press, shown_messages
from tests.fakes.cloud_api import FakeCloudAPI

pytestmark = pytest.mark.django_db

INSIDE, OUTSIDE = "+393331111111", "+393332222222"


def writes(phone: str, *, ago: timedelta, text: str = "Iscrivimi") -> None:
    """The citizen writes to the comune's number `ago` (a keyword subscribes them): their
    message opens the 24-hour window from its own time."""
    inbound_message_receive(
        message=gateway.InboundMessage(
            message_id=f"wamid.{phone}.{ago.total_seconds()}",
            timestamp=datetime.now(UTC) - ago,
            kind=gateway.InboundKind.TEXT,
            wa_type="text",
            phone=phone,
            text=text,
        )
    )


def send_all(broadcast: Broadcast, approver, **approval) -> None:
    lifecycle.broadcast_submit(broadcast=broadcast, actor=broadcast.created_by)
    lifecycle.broadcast_approve(broadcast=broadcast, actor=approver, **approval)
    fanout.broadcasts_dispatch_due()
    with mock.patch.object(fanout, "deliveries_enqueue_ranges"):
        fanout.broadcast_fan_out(broadcast_id=broadcast.pk)
    sending.deliveries_send_range(broadcast_id=broadcast.pk, first_id=0, last_id=10**9)


def received(outbox) -> dict[str, str]:
    return {message.to: type(message).__name__ for message in outbox}


def test_the_window_edge_decides_text_or_template_per_citizen(
    draft, approver, privacy_notice, whatsapp_outbox
):
    writes(INSIDE, ago=timedelta(hours=23, minutes=59))
    writes(OUTSIDE, ago=timedelta(hours=24, minutes=1))

    send_all(draft, approver)

    assert received(whatsapp_outbox) == {INSIDE: "TextMessage", OUTSIDE: "TemplateMessage"}
    text = next(m for m in whatsapp_outbox if m.to == INSIDE)
    assert text.body == draft.body
    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.SENT


def test_a_mixed_broadcast_at_the_cloud_api_gets_text_to_one_and_the_template_to_the_other(
    draft, approver, privacy_notice, settings
):
    writes(INSIDE, ago=timedelta(hours=2))
    writes(OUTSIDE, ago=timedelta(days=3))
    with FakeCloudAPI() as fake:
        settings.WHATSAPP_GATEWAY = {
            "BACKEND": "gateway.backends.cloud.CloudBackend",
            "OPTIONS": {"api_url": fake.url, "phone_number_id": "1065", "access_token": "t"},
        }
        send_all(draft, approver)
        bodies = {request.json["to"]: request.json for request in fake.accepted}

    assert sorted(bodies) == [INSIDE, OUTSIDE]
    assert bodies[INSIDE]["type"] == "text"
    assert bodies[INSIDE]["text"]["body"] == draft.body
    assert bodies[OUTSIDE]["type"] == "template"
    assert bodies[OUTSIDE]["template"]["name"] == draft.template.name
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_an_emergency_follows_the_window_too(
    emergency_sender, privacy_notice, template, whatsapp_outbox, run_on_commit
):
    writes(INSIDE, ago=timedelta(minutes=5))
    writes(OUTSIDE, ago=timedelta(days=2))
    emergency = authoring.broadcast_create(
        author=emergency_sender,
        title="Allerta",
        body="Allerta rossa: restate in casa.",
        category=Broadcast.Category.EMERGENCY,
        priority=Broadcast.Priority.EMERGENCY,
        template=template,
        template_parameters=["allerta rossa"],
    )
    with run_on_commit():
        lifecycle.broadcast_send_emergency(broadcast=emergency, actor=emergency_sender)

    assert received(whatsapp_outbox) == {INSIDE: "TextMessage", OUTSIDE: "TemplateMessage"}


def test_the_reach_counts_who_is_inside_the_window(privacy_notice, template):
    writes(INSIDE, ago=timedelta(hours=23, minutes=59))
    writes(OUTSIDE, ago=timedelta(hours=24, minutes=1))

    reach = selectors.broadcast_reach(template=None)
    assert (reach.total, reach.in_window, reach.template_only) == (2, 1, 1)
    assert reach.needs_window_only
    assert not selectors.broadcast_reach(template=template).needs_window_only


def test_without_a_template_an_approver_cannot_reach_citizens_outside_the_window(
    editor, approver, privacy_notice, whatsapp_outbox
):
    writes(INSIDE, ago=timedelta(hours=1))
    writes(OUTSIDE, ago=timedelta(days=2))
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)

    with pytest.raises(lifecycle.TransitionNotAllowed, match="1 citizens are outside"):
        lifecycle.broadcast_approve(broadcast=broadcast, actor=approver)

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert whatsapp_outbox == []


def test_approved_for_those_inside_the_window_only_the_others_are_skipped_and_counted(
    editor, approver, privacy_notice, whatsapp_outbox
):
    writes(INSIDE, ago=timedelta(hours=1))
    writes(OUTSIDE, ago=timedelta(days=2))
    broadcast = make_draft(editor)

    send_all(broadcast, approver, audience=Broadcast.Audience.WINDOW_ONLY)

    assert received(whatsapp_outbox) == {INSIDE: "TextMessage"}
    skipped = Delivery.objects.get(subscriber__phone=OUTSIDE)
    assert skipped.status == Delivery.Status.SKIPPED
    assert skipped.attempts == 0
    counts = selectors.broadcast_delivery_counts(broadcast_id=broadcast.pk)
    assert (counts.sent, counts.skipped, counts.failed, counts.done) == (1, 1, 0, 2)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    assert broadcast.audience == Broadcast.Audience.WINDOW_ONLY
    note = broadcast.events.get(action=BroadcastEvent.Action.APPROVED).note
    assert note.startswith("only citizens inside their 24-hour window: 1 of 2")


def test_a_broadcast_without_a_template_is_approved_for_all_when_everyone_is_inside(
    editor, approver, privacy_notice, whatsapp_outbox
):
    writes(INSIDE, ago=timedelta(hours=1))
    broadcast = make_draft(editor)

    send_all(broadcast, approver)

    assert received(whatsapp_outbox) == {INSIDE: "TextMessage"}


def test_a_citizen_whose_window_closed_after_approval_is_skipped_not_sent_free_text(
    editor, approver, privacy_notice, whatsapp_outbox
):
    writes(INSIDE, ago=timedelta(hours=1))
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    lifecycle.broadcast_approve(broadcast=broadcast, actor=approver)
    later = datetime.now(UTC) + timedelta(hours=24)

    with mock.patch("django.utils.timezone.now", return_value=later):
        fanout.broadcasts_dispatch_due(now=later)
        with mock.patch.object(fanout, "deliveries_enqueue_ranges"):
            fanout.broadcast_fan_out(broadcast_id=broadcast.pk)
        sending.deliveries_send_range(broadcast_id=broadcast.pk, first_id=0, last_id=10**9)

    assert whatsapp_outbox == []
    assert Delivery.objects.get().status == Delivery.Status.SKIPPED


def test_the_approval_page_shows_the_reach_and_the_choice_is_recorded(
    client, editor, approver, privacy_notice, whatsapp_outbox, django_capture_on_commit_callbacks
):
    writes(INSIDE, ago=timedelta(hours=1))
    writes(OUTSIDE, ago=timedelta(days=2))
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)

    page = client.get(change_url(broadcast)).content.decode()
    assert 'data-reach="total">2<' in page
    assert 'data-reach="in_window">1<' in page
    assert 'data-reach="template_only">1<' in page
    assert "it can be approved only for those inside their window" in page
    assert "broadcasts/reach.js" in page
    assert "approve" in buttons(client.get(change_url(broadcast)))

    refused = press(client, broadcast, "approve", scheduled_at="", audience="all")
    assert shown_messages(refused)[0][0] == "error"
    assert "outside their 24-hour window" in shown_messages(refused)[0][1]

    with django_capture_on_commit_callbacks(execute=True):
        press(client, broadcast, "approve", scheduled_at="", audience="window_only")
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    assert received(whatsapp_outbox) == {INSIDE: "TextMessage"}
    page = client.get(change_url(broadcast)).content.decode()
    assert 'data-count="skipped">1<' in page
    assert "only citizens inside their 24-hour window: 1 of 2" in page


def test_the_reach_endpoint_follows_the_template_the_editor_picks(
    client, editor, privacy_notice, template
):
    writes(INSIDE, ago=timedelta(hours=1))
    writes(OUTSIDE, ago=timedelta(days=2))
    client.force_login(editor)
    url = reverse("admin:broadcasts_broadcast_reach")

    without = client.get(url).json()
    with_template = client.get(url, {"template": template.pk}).json()

    assert without == {
        "total": 2,
        "in_window": 1,
        "template_only": 1,
        "template_approved": False,
        "needs_window_only": True,
    }
    assert with_template["template_approved"] is True
    assert with_template["needs_window_only"] is False
    assert 'id="wa-reach"' in client.get(reverse("admin:broadcasts_broadcast_add")).content.decode()
