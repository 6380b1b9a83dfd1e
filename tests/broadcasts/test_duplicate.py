"""Duplicate (issue 17, point 4): any broadcast becomes a new draft with its content, recorded,
and four eyes still counts whoever wrote the original."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from broadcasts import lifecycle
from broadcasts.models import Broadcast, BroadcastEvent
from broadcasts.services import authoring
from tests.broadcasts.admin_pages import change_url, make_draft, shown_messages
from tests.broadcasts.steps import events
from tests.factories import staff

pytestmark = pytest.mark.django_db

APPROVER = ("add_broadcast", "change_broadcast", "view_broadcast", "approve_broadcast")


def duplicate_url(broadcast: Broadcast) -> str:
    return reverse("admin:broadcasts_broadcast_duplicate", args=[broadcast.pk])


def test_an_editor_duplicates_a_sent_broadcast_into_a_new_draft(client, editor, approver):
    sent = make_draft(approver, title="Raccolta ingombranti", body="Sabato *ingombranti*.")
    Broadcast.objects.filter(pk=sent.pk).update(status=Broadcast.Status.SENT)
    client.force_login(editor)
    assert "duplicate_url" in client.get(change_url(sent)).context

    response = client.post(duplicate_url(sent), follow=True)

    copy = Broadcast.objects.exclude(pk=sent.pk).get()
    assert response.redirect_chain[-1][0] == change_url(copy)
    assert shown_messages(response) == [
        ("success", "Copy made: a new draft. Change what you need, then submit it.")
    ]
    assert (copy.status, copy.created_by, copy.scheduled_at) == (
        Broadcast.Status.DRAFT,
        editor,
        None,
    )
    assert (copy.title, copy.body, copy.category) == (sent.title, sent.body, sent.category)
    assert events(copy) == [
        (BroadcastEvent.Action.CREATED, "editor"),
        (BroadcastEvent.Action.DUPLICATED, "editor"),
    ]
    assert f"#{sent.pk}" in copy.events.get(action=BroadcastEvent.Action.DUPLICATED).note
    sent.refresh_from_db()
    assert sent.status == Broadcast.Status.SENT  # the original is untouched


def test_whoever_wrote_the_original_cannot_approve_its_copy(approver):
    other = staff("approvatrice", *APPROVER)
    original = make_draft(approver)
    copy = authoring.broadcast_duplicate(broadcast=original, actor=other)
    lifecycle.broadcast_submit(broadcast=copy, actor=other)

    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.broadcast_approve(broadcast=copy, actor=approver)  # their words, copied
    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.broadcast_approve(broadcast=copy, actor=other)  # their copy
    third = staff("terza", *APPROVER)
    assert lifecycle.broadcast_approve(broadcast=copy, actor=third).status == "approved"


def test_someone_who_may_not_write_cannot_duplicate(client, editor):
    reader = staff("garante", "view_broadcast")
    original = make_draft(editor)
    with pytest.raises(PermissionDenied):
        authoring.broadcast_duplicate(broadcast=original, actor=reader)

    client.force_login(reader)
    assert "duplicate_url" not in client.get(change_url(original)).context
    response = client.post(duplicate_url(original), follow=True)
    assert shown_messages(response) == [("error", "You may not write broadcasts.")]
    assert Broadcast.objects.count() == 1


def test_duplicate_is_a_post(client, editor):
    client.force_login(editor)
    assert client.get(duplicate_url(make_draft(editor))).status_code == 405
