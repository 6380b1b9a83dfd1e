"""Writing, submitting, approving, pausing and cancelling in the broadcast admin, as staff do."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from broadcasts import lifecycle
from broadcasts.models import Broadcast
from tests.broadcasts.admin_pages import (
    A,
    B,
    C,
    action_url,
    buttons,
    change_url,
    form_data,
    make_draft,
    press,
    shown_messages,
)

pytestmark = pytest.mark.django_db


# --- Writing a broadcast ---------------------------------------------------------------------


def test_an_editor_writes_a_draft_and_submits_it(client, editor, template):
    client.force_login(editor)

    response = client.post(
        reverse("admin:broadcasts_broadcast_add"),
        form_data(template=template.pk, template_parameters="via Roma chiusa\n"),
        follow=True,
    )

    broadcast = Broadcast.objects.get()
    assert response.status_code == 200
    assert (broadcast.status, broadcast.created_by) == (Broadcast.Status.DRAFT, editor)
    assert broadcast.template_parameters == ["via Roma chiusa"]
    assert list(broadcast.events.values_list("action", flat=True)) == ["created"]

    response = client.get(change_url(broadcast))
    assert buttons(response) == {"submit", "cancel"}

    response = press(client, broadcast, "submit")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert shown_messages(response) == [("success", "Submitted for approval.")]
    # The editor may not approve: no such button, and nothing to save any more.
    assert "approve" not in buttons(response)
    assert response.context["show_save"] is False
    assert "submitted for approval" in response.content.decode()


def test_a_draft_can_be_edited_but_a_submitted_broadcast_cannot(client, editor):
    broadcast = make_draft(editor)
    client.force_login(editor)

    client.post(change_url(broadcast), form_data(title="Nuovo titolo"), follow=True)
    broadcast.refresh_from_db()
    assert broadcast.title == "Nuovo titolo"

    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    response = client.post(change_url(broadcast), form_data(title="Cambiato dopo"), follow=True)

    broadcast.refresh_from_db()
    assert broadcast.title == "Nuovo titolo"
    assert shown_messages(response) == [("error", "Only a draft can be changed.")]


def test_the_editor_cannot_approve_even_by_posting(client, editor):
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(editor)

    response = press(client, broadcast, "approve")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert shown_messages(response) == [("error", "You do not have permission for “Approve”.")]


def test_an_approver_cannot_approve_what_they_wrote(client, approver):
    broadcast = make_draft(approver)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=approver)
    client.force_login(approver)

    page = client.get(change_url(broadcast))
    response = press(client, broadcast, "approve")

    assert "approve" not in buttons(page)
    assert "Another person must approve what you wrote." in page.content.decode()
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert shown_messages(response) == [("error", "Another person must approve what you wrote.")]


def test_approval_sends_to_every_active_subscriber(
    client,
    editor,
    approver,
    template,
    subscribers,
    whatsapp_outbox,
    django_capture_on_commit_callbacks,
):
    broadcast = make_draft(editor, template)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)
    assert buttons(client.get(change_url(broadcast))) == {"approve", "reject", "cancel"}

    with django_capture_on_commit_callbacks(execute=True):
        response = press(client, broadcast, "approve", scheduled_at="")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    assert broadcast.approved_by == approver
    assert shown_messages(response) == [("success", "Approved: sending starts now.")]
    assert sorted(message.to for message in whatsapp_outbox) == [A, B, C]
    assert whatsapp_outbox[0].rendered_body() == "Avviso dal Comune: via Roma chiusa domani"
    page = client.get(change_url(broadcast)).content.decode()
    assert 'data-count="sent">3<' in page
    assert "approved" in page and "sending started" in page


def test_approval_warns_when_the_messaging_limit_spreads_delivery(
    client, editor, approver, subscribers, settings, template
):
    settings.WHATSAPP_MESSAGING_LIMIT = 2
    broadcast = make_draft(editor, template)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)
    later = timezone.localtime() + timedelta(days=1)

    response = press(client, broadcast, "approve", scheduled_at=later.strftime("%Y-%m-%dT%H:%M"))

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.APPROVED
    assert broadcast.scheduled_at == later.replace(second=0, microsecond=0)
    levels = dict(shown_messages(response))
    assert "3 citizens are subscribed" in levels["warning"]
    assert "about 2 days" in levels["warning"]
    assert levels["success"].startswith("Approved: it will be sent at ")


def test_approval_for_a_time_in_the_past_is_refused(client, editor, approver):
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)

    response = press(client, broadcast, "approve", scheduled_at="2020-01-01T08:00")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert shown_messages(response) == [("error", "This time is in the past.")]


def test_an_approver_returns_a_broadcast_to_draft(client, editor, approver):
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)

    response = press(client, broadcast, "reject", note="Manca l'orario")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT
    assert shown_messages(response) == [("success", "Returned to draft.")]
    assert "Manca l&#x27;orario" in response.content.decode()


def test_an_emergency_goes_out_in_one_step_from_its_author(
    client,
    emergency_sender,
    subscribers,
    template,
    whatsapp_outbox,
    django_capture_on_commit_callbacks,
):
    broadcast = make_draft(
        emergency_sender,
        template,
        title="Allerta meteo",
        body="*Allerta rossa*: restate in casa.",
        category=Broadcast.Category.EMERGENCY,
        priority=Broadcast.Priority.EMERGENCY,
    )
    client.force_login(emergency_sender)
    assert "emergency" in buttons(client.get(change_url(broadcast)))

    with django_capture_on_commit_callbacks(execute=True):
        response = press(client, broadcast, "emergency")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    assert shown_messages(response) == [("success", "Emergency approved: sending starts now.")]
    assert len(whatsapp_outbox) == 3


def test_the_emergency_button_is_only_for_emergencies(client, emergency_sender):
    broadcast = make_draft(emergency_sender)
    client.force_login(emergency_sender)

    assert "emergency" not in buttons(client.get(change_url(broadcast)))
    response = press(client, broadcast, "emergency")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT
    assert shown_messages(response) == [
        ("error", "Only an emergency can be approved and sent in one step.")
    ]


def test_an_approver_cancels_and_the_broadcast_becomes_read_only(client, editor, approver):
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)

    response = press(client, broadcast, "cancel")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.CANCELLED
    assert shown_messages(response) == [("success", "Cancelled.")]
    assert buttons(response) == set()
    assert response.context["show_save"] is False
    assert "adminform" in response.context
    assert not response.context["adminform"].form.fields  # every field is read-only

    again = press(client, broadcast, "cancel")
    assert [level for level, _ in shown_messages(again)] == ["error"]


def test_pause_shows_the_reason_and_resume_carries_on(client, editor, approver):
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    lifecycle.broadcast_approve(
        broadcast=broadcast, actor=approver, scheduled_at=timezone.now() + timedelta(days=1)
    )
    client.force_login(approver)
    # Approved and not started: it may also be moved or sent now (the calendar's steps).
    assert buttons(client.get(change_url(broadcast))) == {
        "pause",
        "cancel",
        "reschedule",
        "send_now",
    }

    response = press(client, broadcast, "pause", reason="Ordinanza da correggere")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.PAUSED
    assert shown_messages(response) == [("success", "Paused.")]
    assert buttons(response) == {"resume", "cancel"}
    page = response.content.decode()
    assert "Sending is paused." in page
    assert "Ordinanza da correggere" in page

    response = press(client, broadcast, "resume")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.APPROVED
    assert shown_messages(response)[0][0] == "success"


def test_a_broadcast_paused_by_an_expired_token_says_why(client, editor, approver):
    broadcast = make_draft(editor)
    Broadcast.objects.filter(pk=broadcast.pk).update(
        status=Broadcast.Status.PAUSED,
        paused_reason="190 Error validating access token: Session has expired",
        started_at=timezone.now(),
    )
    client.force_login(editor)

    page = client.get(change_url(broadcast)).content.decode()

    assert "Sending is paused." in page
    assert "Session has expired" in page


def test_lifecycle_urls_take_only_post(client, editor):
    broadcast = make_draft(editor)
    client.force_login(editor)

    assert client.get(action_url(broadcast, "submit")).status_code == 405
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT
