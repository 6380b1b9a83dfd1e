"""Honest timing (issue 17, point 5): an approval during quiet hours says when sending will start
and the page keeps saying so; the quiet hours are shown; the category alone decides emergency."""

import datetime as dt
import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps as global_apps
from django.core import mail
from django.db import connection
from django.utils import timezone

from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast
from broadcasts.services import authoring, fanout
from tests.broadcasts.admin_pages import change_url, form_data, make_draft, press, shown_messages
from tests.factories import staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def quiet_now(settings):
    """Quiet hours that hold now: from an hour ago until two hours from now (local time).
    Returns when they end."""
    now = timezone.localtime()
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end_at = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    settings.BROADCAST_QUIET_HOURS = (start, end_at.time())
    return end_at


def _at(moment) -> str:
    today = timezone.localdate()
    suffix = " tomorrow" if moment.date() != today else ""
    return f"at {moment:%H:%M}{suffix}"


def test_quiet_hours_end_the_morning_after_or_the_same_morning(settings):
    settings.BROADCAST_QUIET_HOURS = (dt.time(21, 0), dt.time(8, 0))
    evening = timezone.make_aware(dt.datetime(2026, 12, 4, 22, 30))
    night = timezone.make_aware(dt.datetime(2026, 12, 5, 3, 0))
    noon = timezone.make_aware(dt.datetime(2026, 12, 5, 12, 0))
    morning = timezone.make_aware(dt.datetime(2026, 12, 5, 8, 0))

    assert selectors.quiet_hours_end(evening) == morning
    assert selectors.quiet_hours_end(night) == morning
    assert selectors.quiet_hours_end(noon) == noon
    assert selectors.start_phrase(morning, now=evening) == "at 08:00 tomorrow"
    assert selectors.start_phrase(morning, now=night) == "at 08:00"
    assert selectors.quiet_hours_label() == "21:00–08:00"


def test_approving_in_quiet_hours_says_when_it_will_start_and_the_page_keeps_saying_so(
    client, editor, approver, quiet_now, run_on_commit
):
    editor.email = "editor@comune.example"
    editor.save()
    broadcast = make_draft(editor, title="Mercato spostato")
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)
    page = client.get(change_url(broadcast)).content.decode()
    assert f"Quiet hours {selectors.quiet_hours_label()}" in page  # shown before approving

    with run_on_commit():
        response = press(client, broadcast, "approve", scheduled_at="")

    quiet = selectors.quiet_hours_label()
    assert shown_messages(response) == [
        (
            "success",
            f"Approved, but these are quiet hours ({quiet}): sending will start {_at(quiet_now)}.",
        )
    ]
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.APPROVED  # the dispatcher waits
    assert fanout.broadcasts_dispatch_due() == []
    page = client.get(change_url(broadcast)).content.decode()
    assert f"Sending will start {_at(quiet_now)}." in page
    italian = client.get(change_url(broadcast), HTTP_ACCEPT_LANGUAGE="it").content.decode()
    assert f"Partirà alle {quiet_now:%H:%M}" in italian
    (to_author,) = mail.outbox
    assert f"partirà alle {quiet_now:%H:%M}" in to_author.body


def test_an_emergency_in_quiet_hours_starts_at_once(client, editor, approver, quiet_now):
    emergency = authoring.broadcast_create(
        author=editor, title="Allerta meteo", body="Allerta.", category="emergency"
    )
    lifecycle.broadcast_submit(broadcast=emergency, actor=editor)
    client.force_login(approver)
    assert "Quiet hours" not in client.get(change_url(emergency)).content.decode()

    response = press(client, emergency, "approve", scheduled_at="")

    assert shown_messages(response) == [("success", "Approved: sending starts now.")]
    assert fanout.broadcasts_dispatch_due() == [emergency.pk]


def test_the_category_decides_emergency_in_the_form_and_in_the_service(client, editor):
    client.force_login(editor)
    client.post("/admin/broadcasts/broadcast/add/", form_data(category="emergency"))
    broadcast = Broadcast.objects.get()
    assert broadcast.priority == Broadcast.Priority.EMERGENCY
    page = client.get(change_url(broadcast)).content.decode()
    assert 'name="priority"' not in page  # nobody chooses it apart from the category

    # A priority posted anyway changes nothing; a new category brings its own.
    client.post(change_url(broadcast), form_data(category="traffic", priority="emergency"))
    broadcast.refresh_from_db()
    assert (broadcast.category, broadcast.priority) == ("traffic", Broadcast.Priority.NORMAL)

    with pytest.raises(ValueError, match="category decides"):
        authoring.broadcast_create(
            author=editor, title="Festa", body="Festa.", category="event", priority="emergency"
        )


def test_the_data_migration_gives_unstarted_broadcasts_their_categorys_priority(editor):
    approver = staff("approvatore", "view_broadcast", "approve_broadcast")
    awaiting = authoring.broadcast_create(
        author=editor, title="Allerta", body="Allerta.", category="traffic"
    )
    sent = authoring.broadcast_create(author=editor, title="Vecchia", body="V.", category="event")
    # As rows written before the category decided could be: an emergency sent as normal, an
    # event sent as urgent.
    Broadcast.objects.filter(pk=awaiting.pk).update(category="emergency")
    awaiting.refresh_from_db()
    lifecycle.broadcast_submit(broadcast=awaiting, actor=editor)
    Broadcast.objects.filter(pk=sent.pk).update(priority="emergency", status="sent")
    migration = importlib.import_module("broadcasts.migrations.0008_priority_from_category")

    migration.priority_from_category(global_apps, SimpleNamespace(connection=connection))

    awaiting.refresh_from_db()
    assert awaiting.priority == Broadcast.Priority.EMERGENCY
    approved = lifecycle.broadcast_approve(broadcast=awaiting, actor=approver)  # still approvable
    assert approved.status == Broadcast.Status.APPROVED
    assert Broadcast.objects.get(pk=sent.pk).priority == "emergency"  # history kept


def test_a_time_chosen_in_the_quiet_hours_is_moved_to_their_end_and_said_so(
    client, editor, approver, settings
):
    settings.BROADCAST_QUIET_HOURS = (dt.time(21, 0), dt.time(8, 0))
    broadcast = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    evening = timezone.localtime(timezone.now() + timedelta(days=2)).replace(
        hour=23, minute=0, second=0, microsecond=0
    )
    client.force_login(approver)

    response = press(client, broadcast, "approve", scheduled_at=f"{evening:%Y-%m-%dT%H:%M}")

    morning = (evening + timedelta(days=1)).replace(hour=8, minute=0)
    assert shown_messages(response) == [
        (
            "success",
            "Approved, but the time chosen falls in the quiet hours (21:00–08:00): sending will "
            f"start at 08:00 on {morning:%d/%m/%Y}.",
        )
    ]
    assert f"Sending will start at 08:00 on {morning:%d/%m/%Y}." in response.content.decode()
