"""Recurring broadcasts (issue 17, point 4): a rule makes each occurrence a broadcast of its own,
approved once for the series by someone else, with the text locked, made once per time."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast, BroadcastEvent, BroadcastSeries
from broadcasts.services import fanout, series
from tests.broadcasts.admin_pages import shown_messages
from tests.factories import staff

pytestmark = pytest.mark.django_db

ROME = ZoneInfo("Europe/Rome")
Frequency = BroadcastSeries.Frequency
EDITOR = ("add_broadcast", "change_broadcast", "view_broadcast")
SERIES = ("add_broadcastseries", "change_broadcastseries", "view_broadcastseries")


def waste_collection(author, *, starts_at=None, **fields) -> BroadcastSeries:
    values = {
        "title": "Raccolta della carta",
        "body": "Domani mattina si raccoglie la *carta*: esponete il bidone stasera.",
        "category": Broadcast.Category.PUBLIC_UTILITY,
        "frequency": Frequency.WEEKLY,
        "starts_at": starts_at or timezone.now() + timedelta(hours=2),  # seconds dropped
        **fields,
    }
    return series.series_create(author=author, **values)


def approved(author, approver, **fields) -> BroadcastSeries:
    draft = waste_collection(author, **fields)
    lifecycle.series_submit(series=draft, actor=author)
    return lifecycle.series_approve(series=draft, actor=approver)


def test_an_approved_series_makes_its_next_occurrence_once_an_approved_broadcast(editor, approver):
    weekly = approved(editor, approver)
    assert weekly.starts_at.second == weekly.starts_at.microsecond == 0

    assert series.series_occurrences_make() == 1
    assert series.series_occurrences_make() == 0  # a double run (or a restart) adds nothing

    occurrence = Broadcast.objects.get(series=weekly)
    assert occurrence.status == Broadcast.Status.APPROVED
    assert occurrence.body == weekly.body and occurrence.title == weekly.title
    assert occurrence.scheduled_at == weekly.starts_at == occurrence.occurrence_at
    assert (occurrence.created_by, occurrence.approved_by) == (editor, approver)
    assert list(occurrence.events.values_list("action", "actor__username")) == [
        (BroadcastEvent.Action.CREATED, None),
        (BroadcastEvent.Action.SERIES_APPROVED, "approver"),
    ]


def test_the_unique_occurrence_refuses_a_second_copy_even_past_the_check(editor, approver):
    weekly = approved(editor, approver)
    with transaction.atomic():
        first = lifecycle.series_occurrence_create(series=weekly, occurrence_at=weekly.starts_at)
        again = lifecycle.series_occurrence_create(series=weekly, occurrence_at=weekly.starts_at)
    assert first is not None and again is None
    assert Broadcast.objects.filter(series=weekly).count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Broadcast.objects.create(
            title="copia",
            category=Broadcast.Category.PUBLIC_UTILITY,
            created_by=editor,
            series=weekly,
            occurrence_at=weekly.starts_at,
        )


def test_nothing_is_made_before_approval_and_only_a_day_ahead(editor, approver):
    draft = waste_collection(editor, frequency=Frequency.DAILY)
    assert series.series_occurrences_make() == 0
    lifecycle.series_submit(series=draft, actor=editor)
    assert series.series_occurrences_make() == 0  # awaiting approval
    lifecycle.series_approve(series=draft, actor=approver)

    assert series.series_occurrences_make() == 1  # today's; tomorrow's is over 24 hours away
    later = timezone.now() + timedelta(days=1)
    assert series.series_occurrences_make(now=later) == 1
    assert draft.occurrences.count() == 2


def test_an_occurrence_missed_by_more_than_an_hour_is_not_sent_late(editor, approver):
    daily = approved(editor, approver, frequency=Frequency.DAILY)
    # The machine was off for two days: only what falls in the coming day is made.
    made = series.series_occurrences_make(now=daily.starts_at + timedelta(days=2, hours=2))
    assert made == 1
    assert daily.occurrences.get().occurrence_at == daily.starts_at + timedelta(days=3)


def test_an_author_cannot_approve_their_own_series(approver):
    own = lifecycle.series_submit(series=waste_collection(approver), actor=approver)

    assert lifecycle.series_refusal(approver, "approve", own) == (
        "Another person must approve what you wrote."
    )
    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.series_approve(series=own, actor=approver)
    own.refresh_from_db()
    assert own.status == BroadcastSeries.Status.AWAITING_APPROVAL
    assert series.series_occurrences_make() == 0


def test_an_approver_who_changed_the_series_cannot_approve_it(editor, approver):
    draft = waste_collection(editor)
    series.series_update_draft(series=draft, actor=approver, changes={"title": "Carta e cartone"})
    lifecycle.series_submit(series=draft, actor=editor)
    with pytest.raises(lifecycle.TransitionNotAllowed, match="what you changed"):
        lifecycle.series_approve(series=draft, actor=approver)


def test_an_editor_cannot_approve_a_series(editor):
    other = staff("redattrice", *EDITOR)
    draft = waste_collection(other)
    lifecycle.series_submit(series=draft, actor=other)
    with pytest.raises(lifecycle.TransitionNotAllowed, match="permission"):
        lifecycle.series_approve(series=draft, actor=editor)


def test_changing_an_approved_series_needs_a_new_approval(editor, approver):
    weekly = approved(editor, approver)
    assert not series.series_update_draft(
        series=weekly, actor=editor, changes={"body": "Testo cambiato"}
    )  # locked while approved

    lifecycle.series_reopen(series=weekly, actor=editor)
    assert series.series_update_draft(
        series=weekly, actor=editor, changes={"body": "Raccolta spostata a giovedì."}
    )
    weekly.refresh_from_db()
    assert (weekly.status, weekly.approved_by) == (BroadcastSeries.Status.DRAFT, None)
    assert series.series_occurrences_make() == 0
    # The old approval does not cover the new text: an approval of what was submitted is needed.
    weekly.status = BroadcastSeries.Status.APPROVED
    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.series_occurrence_create(series=weekly, occurrence_at=weekly.starts_at)

    weekly.refresh_from_db()
    lifecycle.series_submit(series=weekly, actor=editor)
    lifecycle.series_approve(series=weekly, actor=approver)
    assert series.series_occurrences_make() == 1
    assert Broadcast.objects.get(series=weekly).body == "Raccolta spostata a giovedì."


def test_a_submitted_series_changed_behind_the_form_is_not_approved(editor, approver):
    draft = waste_collection(editor)
    lifecycle.series_submit(series=draft, actor=editor)
    BroadcastSeries.objects.filter(pk=draft.pk).update(body="Altro testo")
    with pytest.raises(lifecycle.TransitionNotAllowed, match="changed after it was submitted"):
        lifecycle.series_approve(series=draft, actor=approver)


def test_an_emergency_is_never_a_recurring_broadcast(editor):
    with pytest.raises(series.SeriesRefused):
        waste_collection(editor, category=Broadcast.Category.EMERGENCY)


def test_an_ended_series_makes_nothing_more(editor, approver):
    weekly = approved(editor, approver)
    lifecycle.series_end(series=weekly, actor=approver)
    assert series.series_occurrences_make() == 0


def test_an_occurrence_starts_at_its_time_like_any_approved_broadcast(editor, approver):
    weekly = approved(editor, approver)
    series.series_occurrences_make()
    occurrence = weekly.occurrences.get()
    assert fanout.broadcasts_dispatch_due() == []  # two hours early
    assert fanout.broadcasts_dispatch_due(now=weekly.starts_at) == [occurrence.pk]


def test_a_weekly_time_stays_the_same_across_summer_time(editor):
    # Summer time starts on Sunday 28 March 2027 in Italy.
    first = datetime(2027, 3, 22, 8, 0, tzinfo=ROME)
    weekly = BroadcastSeries(frequency=Frequency.WEEKLY, interval=1, starts_at=first)
    times = selectors.series_occurrences_between(
        series=weekly, after=first, before=first + timedelta(days=8)
    )
    assert [timezone.localtime(t, ROME).strftime("%a %d %H:%M") for t in times] == [
        "Mon 22 08:00",
        "Mon 29 08:00",
    ]


def test_monthly_on_the_same_weekday_is_the_council_meeting(editor):
    first = datetime(2027, 1, 5, 18, 30, tzinfo=ROME)  # the first Tuesday of January
    monthly = BroadcastSeries(
        frequency=Frequency.MONTHLY_WEEKDAY, interval=1, starts_at=first, ends_on=None
    )
    times = selectors.series_next_occurrences(series=monthly, now=first, limit=3)
    assert [timezone.localtime(t, ROME).strftime("%a %d/%m %H:%M") for t in times] == [
        "Tue 05/01 18:30",
        "Tue 02/02 18:30",
        "Tue 02/03 18:30",
    ]


def test_the_last_day_ends_the_rule(editor):
    first = datetime(2027, 1, 4, 7, 0, tzinfo=ROME)
    daily = BroadcastSeries(
        frequency=Frequency.DAILY, interval=2, starts_at=first, ends_on=first.date() + timedelta(5)
    )
    times = selectors.series_next_occurrences(series=daily, now=first, limit=10)
    assert [timezone.localtime(t, ROME).day for t in times] == [4, 6, 8]


# --- The admin ---


def test_the_series_admin_flow_for_an_editor_and_an_approver(client):
    editor = staff("redattore", *EDITOR, *SERIES)
    approver = staff("approvatore", *EDITOR, *SERIES, "approve_broadcast")
    client.force_login(editor)
    starts = timezone.localtime() + timedelta(days=1)
    response = client.post(
        reverse("admin:broadcasts_broadcastseries_add"),
        {
            "title": "Consiglio comunale",
            "body": "Stasera alle 18:30 il Consiglio comunale in sala consiliare.",
            "category": Broadcast.Category.EVENT,
            "template": "",
            "template_parameters": "",
            "media_url": "",
            "is_public": "on",
            "frequency": Frequency.MONTHLY_WEEKDAY,
            "interval": "1",
            "starts_at_0": starts.strftime("%Y-%m-%d"),
            "starts_at_1": starts.strftime("%H:%M"),
            "ends_on": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    council = BroadcastSeries.objects.get()
    assert council.created_by == editor
    step = reverse("admin:broadcasts_broadcastseries_step", args=[council.pk, "submit"])
    assert client.post(step).status_code == 302
    approve = reverse("admin:broadcasts_broadcastseries_step", args=[council.pk, "approve"])
    response = client.post(approve, {"audience": "all"}, follow=True)
    assert shown_messages(response)[-1][0] == "error"  # an editor may not approve
    council.refresh_from_db()
    assert council.status == BroadcastSeries.Status.AWAITING_APPROVAL

    client.force_login(approver)
    page = client.get(reverse("admin:broadcasts_broadcastseries_change", args=[council.pk]))
    assert "approve" in {item["action"].name for item in page.context["series_actions"]}
    response = client.post(approve, {"audience": "all"}, follow=True)
    assert shown_messages(response)[-1][0] == "success"
    council.refresh_from_db()
    assert council.status == BroadcastSeries.Status.APPROVED

    # Locked: the page shows no save button and a POST changes nothing.
    change = reverse("admin:broadcasts_broadcastseries_change", args=[council.pk])
    page = client.get(change)
    assert page.context["show_save"] is False
    client.post(change, {"title": "Altro", "body": "Altro"})
    council.refresh_from_db()
    assert council.title == "Consiglio comunale"


def test_the_series_form_refuses_an_emergency(client):
    client.force_login(staff("redattore", *EDITOR, *SERIES))
    starts = timezone.localtime() + timedelta(days=1)
    response = client.post(
        reverse("admin:broadcasts_broadcastseries_add"),
        {
            "title": "Allerta",
            "body": "Allerta",
            "category": Broadcast.Category.EMERGENCY,
            "frequency": Frequency.WEEKLY,
            "interval": "1",
            "starts_at_0": starts.strftime("%Y-%m-%d"),
            "starts_at_1": starts.strftime("%H:%M"),
        },
    )
    assert response.status_code == 200
    assert "category" in response.context["adminform"].form.errors
    assert not BroadcastSeries.objects.exists()


def test_a_submitted_series_waits_for_the_approvers_who_did_not_write_it(client, editor, approver):
    draft = waste_collection(editor, title="Raccolta del vetro")
    lifecycle.series_submit(series=draft, actor=editor)
    assert list(selectors.series_awaiting_approval_by(user=approver)) == [draft]
    assert list(selectors.series_awaiting_approval_by(user=editor)) == []  # may not approve

    client.force_login(approver)
    page = client.get(reverse("admin:index")).content.decode()
    box = page.split('id="dashboard-waiting-title"')[1].split("</section>")[0]
    assert "Raccolta del vetro" in box
    assert reverse("admin:broadcasts_broadcastseries_change", args=[draft.pk]) in box

    own = lifecycle.series_submit(series=waste_collection(approver), actor=approver)
    assert own not in selectors.series_awaiting_approval_by(user=approver)  # four eyes
