"""Four eyes that hold (issue 13, findings 1 and 3): an approval comes from someone who neither
wrote nor changed the content, of exactly the content submitted; an emergency goes out alone only
from those allowed to, and every other approver is told and confirms it."""

import pytest
from django.core import mail
from django.urls import reverse

from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast
from broadcasts.services import authoring
from tests.broadcasts.admin_pages import buttons, change_url, form_data, press, shown_messages
from tests.broadcasts.steps import emergency_draft
from tests.factories import staff

pytestmark = pytest.mark.django_db


def _rewrite_in_admin(client, user, broadcast, **changes):
    client.force_login(user)
    fields = {"title": broadcast.title, "body": broadcast.body, "category": broadcast.category}
    data = form_data(**{**fields, **changes})
    return client.post(change_url(broadcast), data)


def test_an_approver_who_rewrote_someone_elses_draft_cannot_approve_it(client, draft, approver):
    """The review's attack: return to draft, rewrite, submit, approve alone."""
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    lifecycle.broadcast_reject(broadcast=draft, actor=approver, note="")
    _rewrite_in_admin(client, approver, draft, body="Testo riscritto dall'approvatore.")
    draft.refresh_from_db()
    assert draft.body == "Testo riscritto dall'approvatore."
    assert draft.events.filter(action="edited", actor=approver).exists()  # the edit is recorded

    lifecycle.broadcast_submit(broadcast=draft, actor=approver)
    with pytest.raises(lifecycle.TransitionNotAllowed, match="what you changed"):
        lifecycle.broadcast_approve(broadcast=draft, actor=approver)
    assert "approve" not in buttons(client.get(change_url(draft)))

    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.AWAITING_APPROVAL


def test_a_third_person_may_approve_what_the_author_and_an_editor_wrote(draft, approver):
    other_editor = staff("redattrice", "add_broadcast", "change_broadcast", "view_broadcast")
    authoring.broadcast_update_draft(
        broadcast=draft, actor=other_editor, changes={"title": "Via Roma chiusa"}
    )
    lifecycle.broadcast_submit(broadcast=draft, actor=other_editor)

    approved = lifecycle.broadcast_approve(broadcast=draft, actor=approver)

    assert approved.status == Broadcast.Status.APPROVED
    assert lifecycle.contributors(draft) == {draft.created_by_id, other_editor.pk}


def test_content_changed_behind_the_submission_cannot_be_approved(draft, approver):
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    Broadcast.objects.filter(pk=draft.pk).update(body="Cambiato dopo l'invio in approvazione.")

    with pytest.raises(lifecycle.TransitionNotAllowed, match="changed after it was submitted"):
        lifecycle.broadcast_approve(broadcast=draft, actor=approver)


def test_a_plain_approver_cannot_send_an_emergency_alone(client, approver):
    emergency = authoring.broadcast_create(
        author=approver, title="Allerta", body="Allerta.", category=Broadcast.Category.EMERGENCY
    )
    with pytest.raises(lifecycle.TransitionNotAllowed, match="permission"):
        lifecycle.broadcast_send_emergency(broadcast=emergency, actor=approver)

    client.force_login(approver)
    assert "emergency" not in buttons(client.get(change_url(emergency)))
    press(client, emergency, "emergency")
    emergency.refresh_from_db()
    assert emergency.status == Broadcast.Status.DRAFT


def test_sending_alone_needs_the_emergency_category(emergency_sender):
    urgent = emergency_draft(emergency_sender, title="Festa", category=Broadcast.Category.EVENT)
    assert urgent.priority == Broadcast.Priority.NORMAL  # the category decides (issue 17)
    with pytest.raises(lifecycle.TransitionNotAllowed, match="Only an emergency"):
        lifecycle.broadcast_send_emergency(broadcast=urgent, actor=emergency_sender)


def test_an_emergency_sent_alone_is_told_to_the_others_and_confirmed_afterwards(
    client, emergency_sender, approver, run_on_commit
):
    approver.email = "approvatore@comune.example"
    approver.save()
    emergency_sender.email = "sindaco@comune.example"
    emergency_sender.save()
    emergency = authoring.broadcast_create(
        author=emergency_sender,
        title="Allerta meteo",
        body="Allerta rossa.",
        category=Broadcast.Category.EMERGENCY,
    )
    with run_on_commit():
        lifecycle.broadcast_send_emergency(broadcast=emergency, actor=emergency_sender)

    alone = [m for m in mail.outbox if m.subject.startswith("Emergenza inviata senza secondo")]
    assert [m.to for m in alone] == [["approvatore@comune.example"]]  # not the sender
    assert "Allerta meteo" in alone[0].subject
    assert list(selectors.broadcasts_emergencies_to_confirm()) == [emergency]
    client.force_login(approver)
    assert "Allerta meteo" in client.get(reverse("admin:index")).content.decode()

    with pytest.raises(lifecycle.TransitionNotAllowed, match="Another approver"):
        lifecycle.broadcast_confirm_emergency(broadcast=emergency, actor=emergency_sender)
    response = press(client, emergency, "confirm")

    assert shown_messages(response) == [("success", "Emergency confirmed.")]
    assert emergency.events.filter(action="emergency confirmed", actor=approver).exists()
    assert list(selectors.broadcasts_emergencies_to_confirm()) == []
