"""The calendar (issue 17, point 3): scheduled and sent broadcasts by month and week, in Italian,
with reschedule and "send now" for an approved one, by an approver, both recorded."""

import re
from datetime import date, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast, BroadcastEvent
from broadcasts.services import fanout, series
from tests.broadcasts.admin_pages import action_url, buttons, change_url, make_draft, shown_messages
from tests.broadcasts.steps import events
from tests.factories import staff

pytestmark = pytest.mark.django_db

Action = BroadcastEvent.Action


def calendar(view: str = "month", day: date | None = None) -> str:
    query = f"?view={view}" + (f"&date={day.isoformat()}" if day else "")
    return reverse("admin:broadcasts_broadcast_calendar") + query


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def scheduled(author, approver, at: datetime, **fields) -> Broadcast:
    broadcast = make_draft(author, **fields)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=author)
    return lifecycle.broadcast_approve(broadcast=broadcast, actor=approver, scheduled_at=at)


@pytest.fixture
def next_week() -> date:
    """A Thursday in the coming weeks (whatever today is), so scheduled times are in the future."""
    today = timezone.localdate()
    return today + timedelta(days=7 + (3 - today.weekday()) % 7)


def test_the_month_shows_scheduled_and_sent_broadcasts_each_linking_to_it(
    client, editor, approver, next_week
):
    later = scheduled(editor, approver, local(next_week, 10, 30), title="Mercato in piazza")
    sent = make_draft(editor, title="Strada riaperta")
    Broadcast.objects.filter(pk=sent.pk).update(
        status=Broadcast.Status.SENT, started_at=local(next_week, 9), finished_at=timezone.now()
    )
    draft = make_draft(editor, title="Bozza mai approvata")
    client.force_login(editor)

    response = client.get(calendar("month", next_week))

    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="{change_url(later)}">Mercato in piazza</a>' in page
    assert f'href="{change_url(sent)}">Strada riaperta</a>' in page
    assert change_url(draft) not in page  # neither scheduled nor sent
    day = next(
        d for week in response.context["weeks"] for d in week if d.day == next_week and d.in_period
    )
    assert [(entry.title, timezone.localtime(entry.at).time()) for entry in day.entries] == [
        ("Strada riaperta", time(9)),
        ("Mercato in piazza", time(10, 30)),
    ]
    assert '<th scope="col">' in page and "<caption>" in page


def test_the_pages_are_italian_with_dates_as_italians_write_them(client, editor):
    client.force_login(editor)
    day = date(2026, 12, 3)

    month = client.get(calendar("month", day), HTTP_ACCEPT_LANGUAGE="it").content.decode()
    week = client.get(calendar("week", day), HTTP_ACCEPT_LANGUAGE="it").content.decode()

    assert "<caption>Dicembre 2026</caption>" in month
    assert '<abbr title="lunedì">' in month
    assert "giovedì 3 dicembre 2026" in month  # each day's full date, read on a phone
    assert "Mese precedente" in month and "Mese successivo" in month
    assert "giovedì 3 dicembre 2026" in week
    assert "Settimana dal 30 novembre 2026 al 6 dicembre 2026" in week


def test_previous_and_next_go_by_month_and_by_week(client, editor):
    client.force_login(editor)
    month = client.get(calendar("month", date(2027, 1, 15))).context
    assert month["previous_url"] == calendar("month", date(2026, 12, 1))
    assert month["next_url"] == calendar("month", date(2027, 2, 1))
    assert month["weeks"][0][0].day == date(2026, 12, 28)  # from the Monday of its first week
    assert all(len(week) == 7 for week in month["weeks"])

    week = client.get(calendar("week", date(2027, 1, 15))).context
    assert [d.day for d in week["days"]] == [date(2027, 1, 11) + timedelta(n) for n in range(7)]
    assert week["previous_url"] == calendar("week", date(2027, 1, 4))
    assert week["next_url"] == calendar("week", date(2027, 1, 18))


def test_a_bad_date_is_a_400_saying_so(client, editor):
    client.force_login(editor)
    response = client.get(reverse("admin:broadcasts_broadcast_calendar") + "?date=2026-13-45")
    assert response.status_code == 400
    assert "This calendar page does not exist" in response.content.decode()
    assert client.get(calendar("year")).status_code == 400


def test_the_calendar_needs_the_right_to_see_broadcasts(client):
    client.force_login(staff("nessuno", "view_subscriber"))
    assert client.get(calendar()).status_code == 403


def test_an_approved_series_shows_its_coming_occurrences(client, editor, approver, next_week):
    weekly = series.series_create(
        author=editor,
        title="Raccolta della carta",
        body="Domani si raccoglie la carta.",
        category=Broadcast.Category.PUBLIC_UTILITY,
        frequency="weekly",
        starts_at=local(next_week, 19),
    )
    lifecycle.series_submit(series=weekly, actor=editor)
    lifecycle.series_approve(series=weekly, actor=approver)
    client.force_login(editor)

    response = client.get(calendar("week", next_week + timedelta(days=7)))

    page = response.content.decode()
    series_url = reverse("admin:broadcasts_broadcastseries_change", args=[weekly.pk])
    assert f'href="{series_url}">Raccolta della carta</a>' in page
    # Made a day ahead, the occurrence is a broadcast and the calendar links to it instead.
    series.series_occurrences_make(now=local(next_week, 8))
    occurrence = weekly.occurrences.get()
    page = client.get(calendar("week", next_week)).content.decode()
    assert f'href="{change_url(occurrence)}">Raccolta della carta</a>' in page
    assert page.count("Raccolta della carta") == 1


# --- Reschedule and send now ---


def test_an_approver_reschedules_from_the_week_and_it_is_recorded(
    client, editor, approver, next_week, run_on_commit
):
    broadcast = scheduled(editor, approver, local(next_week, 10))
    client.force_login(approver)
    here = calendar("week", next_week)
    assert 'data-wa-action="reschedule"' in client.get(here).content.decode()

    with run_on_commit():
        response = client.post(
            action_url(broadcast, "reschedule"),
            {"scheduled_at": f"{next_week + timedelta(days=1)}T11:15", "next": here},
            follow=True,
        )

    assert response.redirect_chain[-1][0] == here  # back to the calendar
    assert shown_messages(response)[-1][0] == "success"
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.APPROVED
    assert broadcast.scheduled_at == local(next_week + timedelta(days=1), 11, 15)
    event = broadcast.events.get(action=Action.RESCHEDULED)
    assert (event.actor, event.at.date()) == (approver, timezone.now().date())
    assert event.note == (
        f"from {local(next_week, 10):%d/%m/%Y} 10:00 "
        f"to {local(next_week + timedelta(days=1), 11, 15):%d/%m/%Y} 11:15"
    )
    day = next(d for d in response.context["days"] if d.day == next_week + timedelta(days=1))
    assert [entry.broadcast for entry in day.entries] == [broadcast]


def test_an_editor_cannot_reschedule_or_send_now(client, editor, approver, next_week):
    broadcast = scheduled(editor, approver, local(next_week, 10))
    client.force_login(editor)
    assert (
        'data-wa-action="reschedule"'
        not in client.get(calendar("week", next_week)).content.decode()
    )
    assert not {"reschedule", "send_now"} & buttons(client.get(change_url(broadcast)))

    client.post(action_url(broadcast, "reschedule"), {"scheduled_at": f"{next_week}T12:00"})
    client.post(action_url(broadcast, "send_now"))

    broadcast.refresh_from_db()
    assert broadcast.scheduled_at == local(next_week, 10)
    assert not broadcast.events.filter(action__in=[Action.RESCHEDULED, Action.SENT_NOW]).exists()
    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.broadcast_reschedule(
            broadcast=broadcast, actor=editor, scheduled_at=local(next_week, 12)
        )
    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.broadcast_send_now(broadcast=broadcast, actor=editor)


def test_only_an_approved_broadcast_is_rescheduled_or_sent_now(editor, approver, next_week):
    waiting = make_draft(editor)
    lifecycle.broadcast_submit(broadcast=waiting, actor=editor)
    with pytest.raises(lifecycle.TransitionNotAllowed, match="does not apply"):
        lifecycle.broadcast_send_now(broadcast=waiting, actor=approver)  # not approved yet
    started = scheduled(editor, approver, local(next_week, 10))
    fanout.broadcasts_dispatch_due(now=local(next_week, 10))
    started.refresh_from_db()
    with pytest.raises(lifecycle.TransitionNotAllowed, match="does not apply"):
        lifecycle.broadcast_reschedule(
            broadcast=started, actor=approver, scheduled_at=local(next_week, 12)
        )


def test_a_time_in_the_past_is_refused(client, editor, approver, next_week):
    broadcast = scheduled(editor, approver, local(next_week, 10))
    with pytest.raises(lifecycle.TransitionNotAllowed, match="in the past"):
        lifecycle.broadcast_reschedule(
            broadcast=broadcast, actor=approver, scheduled_at=timezone.now() - timedelta(hours=1)
        )
    client.force_login(approver)
    response = client.post(
        action_url(broadcast, "reschedule"), {"scheduled_at": "2020-01-01T10:00"}, follow=True
    )
    assert shown_messages(response) == [("error", "This time is in the past.")]


def test_send_now_starts_it_at_once_recorded(client, editor, approver, next_week, run_on_commit):
    broadcast = scheduled(editor, approver, local(next_week, 10))
    client.force_login(approver)

    with run_on_commit():
        response = client.post(action_url(broadcast, "send_now"), follow=True)

    assert shown_messages(response) == [
        ("success", "Sent now instead of at its time. Sending starts now.")
    ]
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT  # no subscribers: done at once
    assert events(broadcast)[3:5] == [(Action.SENT_NOW, "approver"), (Action.STARTED, None)]
    assert broadcast.events.get(action=Action.SENT_NOW).note == (
        f"it was to go at {local(next_week, 10):%d/%m/%Y} 10:00"
    )


def test_send_now_in_quiet_hours_waits_for_their_end_and_says_so(
    client, editor, approver, next_week, settings
):
    broadcast = scheduled(editor, approver, local(next_week, 10))
    now = timezone.localtime()
    settings.BROADCAST_QUIET_HOURS = (
        (now - timedelta(hours=1)).time().replace(second=0, microsecond=0),
        (now + timedelta(hours=2)).time().replace(second=0, microsecond=0),
    )
    client.force_login(approver)

    response = client.post(action_url(broadcast, "send_now"), follow=True)

    message = shown_messages(response)[0][1]
    assert re.match(
        r"Sent now instead of at its time\. These are quiet hours \(.*\): "
        r"sending will start at \d\d:\d\d",
        message,
    )
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.APPROVED  # the dispatcher waits them out
    assert fanout.broadcasts_dispatch_due() == []
    entries = selectors.calendar_entries(
        first_day=timezone.localdate(),
        last_day=timezone.localdate() + timedelta(1),
        now=timezone.now(),
    )
    assert [entry.held_by_quiet_hours for entry in entries] == [True]


def test_the_author_is_told_of_the_new_time(editor, approver, next_week, run_on_commit, mailoutbox):
    editor.email = "editor@comune.example"
    editor.save()
    broadcast = scheduled(editor, approver, local(next_week, 10), title="Mercato")
    mailoutbox.clear()
    with run_on_commit():
        lifecycle.broadcast_reschedule(
            broadcast=broadcast, actor=approver, scheduled_at=local(next_week, 16)
        )
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["editor@comune.example"], "Nuovo orario: Mercato")
    ]
    assert "16:00" in mailoutbox[0].body


def test_a_new_time_in_the_quiet_hours_says_when_it_will_start(
    client, editor, approver, next_week, settings
):
    broadcast = scheduled(editor, approver, local(next_week, 10))
    settings.BROADCAST_QUIET_HOURS = (time(21, 0), time(8, 0))
    client.force_login(approver)

    response = client.post(
        action_url(broadcast, "reschedule"), {"scheduled_at": f"{next_week}T22:30"}, follow=True
    )

    assert shown_messages(response) == [
        (
            "success",
            "Rescheduled. The time chosen falls in the quiet hours (21:00–08:00): sending will "
            f"start at 08:00 on {next_week + timedelta(days=1):%d/%m/%Y}.",
        )
    ]
    broadcast.refresh_from_db()
    assert broadcast.scheduled_at == local(next_week, 22, 30)  # the time chosen, recorded
