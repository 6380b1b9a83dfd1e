"""The author withdraws a submitted broadcast to fix it (issue 17, point 2): back to draft,
recorded; nobody else whose writing it is not may do it."""

import pytest

from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast
from broadcasts.services import authoring
from tests.broadcasts.admin_pages import (
    buttons,
    change_url,
    form_data,
    make_draft,
    press,
    shown_messages,
)
from tests.broadcasts.steps import events
from tests.factories import staff

pytestmark = pytest.mark.django_db

EDITOR = ("add_broadcast", "change_broadcast", "view_broadcast")


def test_the_author_withdraws_a_submitted_broadcast_fixes_it_and_submits_it_again(
    client, editor, approver
):
    broadcast = make_draft(editor, title="Chiusura via Roma")
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    assert list(selectors.broadcasts_awaiting_approval_by(user=approver)) == [broadcast]
    client.force_login(editor)
    assert "withdraw" in buttons(client.get(change_url(broadcast)))

    response = press(client, broadcast, "withdraw")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT
    assert shown_messages(response) == [
        ("success", "Withdrawn: it is a draft again. Change it, then submit it again.")
    ]
    assert events(broadcast)[-1] == ("withdrawn", "editor")
    assert "withdrawn to be changed" in response.content.decode()  # in the history
    assert list(selectors.broadcasts_awaiting_approval_by(user=approver)) == []

    client.post(change_url(broadcast), form_data(title="Chiusura via Roma dalle 8"))
    broadcast.refresh_from_db()
    assert broadcast.title == "Chiusura via Roma dalle 8"
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    approved = lifecycle.broadcast_approve(broadcast=broadcast, actor=approver)
    assert approved.status == Broadcast.Status.APPROVED  # the new content, fingerprinted anew


def test_an_editor_who_changed_it_may_withdraw_it_too(editor):
    broadcast = make_draft(editor)
    co_author = staff("redattrice", *EDITOR)
    authoring.broadcast_update_draft(
        broadcast=broadcast, actor=co_author, changes={"title": "Via Roma chiusa"}
    )
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)

    withdrawn = lifecycle.broadcast_withdraw(broadcast=broadcast, actor=co_author)

    assert withdrawn.status == Broadcast.Status.DRAFT


@pytest.mark.parametrize(
    "who",
    [
        ("altro-redattore", EDITOR),  # may edit drafts, but this is not theirs
        ("approvatore", (*EDITOR, "approve_broadcast")),  # returns it to draft, with a note
        ("lettore", ("view_broadcast",)),
    ],
)
def test_nobody_whose_writing_it_is_not_may_withdraw_it(client, editor, who):
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    other = staff(who[0], *who[1])

    with pytest.raises(lifecycle.TransitionNotAllowed, match="permission"):
        lifecycle.broadcast_withdraw(broadcast=broadcast, actor=other)
    client.force_login(other)
    assert "withdraw" not in buttons(client.get(change_url(broadcast)))
    response = press(client, broadcast, "withdraw")

    assert shown_messages(response)[0][0] == "error"
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert "withdrawn" not in [action for action, _ in events(broadcast)]


def test_an_approved_broadcast_can_no_longer_be_withdrawn(client, editor, approver):
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    lifecycle.broadcast_approve(broadcast=broadcast, actor=approver)

    with pytest.raises(lifecycle.TransitionNotAllowed, match="does not apply"):
        lifecycle.broadcast_withdraw(broadcast=broadcast, actor=editor)
    client.force_login(editor)
    assert "withdraw" not in buttons(client.get(change_url(broadcast)))
