"""Recurring broadcasts: a series written and changed as a draft, and its occurrences made,
approved, shortly before their time by the scheduler (beat, or `run_scheduler`).

A series is approved once (broadcasts.lifecycle: four eyes, the text and rule fingerprinted);
each occurrence is then a broadcast of its own with the approved text, made once for its time
(the unique (series, occurrence time)), so that it shows in the calendar and may be rescheduled
or cancelled like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast, BroadcastEvent, BroadcastSeries, BroadcastSeriesEvent

Action = BroadcastEvent.Action

# An occurrence is made this long before its time: a day ahead, staff see it in the calendar as
# a broadcast of its own (to reschedule or cancel) with the text that will go.
OCCURRENCE_LEAD = timedelta(hours=24)
# An occurrence the scheduler missed (the machine was off) by longer than this is not sent
# late: yesterday's waste collection notice would mislead.
OCCURRENCE_CATCH_UP = timedelta(hours=1)


class SeriesRefused(ValueError):
    """What a recurring broadcast may not be (an emergency: those are never planned)."""


def _check_category(category: object) -> None:
    if category == Broadcast.Category.EMERGENCY:
        raise SeriesRefused("An emergency is sent when it happens, never as a recurring broadcast.")


def _on_the_minute(fields: dict[str, object]) -> None:
    """The rule keeps whole seconds (dateutil drops the rest); staff choose minutes."""
    starts_at = fields.get("starts_at")
    if isinstance(starts_at, datetime):
        fields["starts_at"] = starts_at.replace(second=0, microsecond=0)


def series_create(*, author: User, **fields: object) -> BroadcastSeries:
    """A recurring broadcast's draft by `author`, recorded."""
    _check_category(fields.get("category"))
    _on_the_minute(fields)
    with transaction.atomic():
        series = BroadcastSeries.objects.create(created_by=author, **fields)
        BroadcastSeriesEvent.objects.create(series=series, action=Action.CREATED, actor=author)
    return series


def series_update_draft(
    *, series: BroadcastSeries, actor: User, changes: dict[str, object]
) -> bool:
    """Change a draft series' text or rule, recording who changed what (four eyes counts them);
    False (nothing saved) when it is no longer a draft: an approved series is reopened first
    (`lifecycle.series_reopen`), which withdraws its approval."""
    if "category" in changes:
        _check_category(changes["category"])
    changes = dict(changes)
    _on_the_minute(changes)
    if not changes:
        return True
    with transaction.atomic():
        changed = BroadcastSeries.objects.filter(
            pk=series.pk, status=BroadcastSeries.Status.DRAFT
        ).update(**changes)
        if changed:
            BroadcastSeriesEvent.objects.create(
                series=series,
                action=Action.EDITED,
                actor=actor,
                note=", ".join(sorted(changes))[:500],
            )
    return bool(changed)


def series_occurrences_make(*, now: datetime | None = None) -> int:
    """Make the occurrences of every approved series due within OCCURRENCE_LEAD, each once;
    returns how many were made. Never one from before the series' approval, nor one missed by
    more than OCCURRENCE_CATCH_UP. Each series is locked (SKIP LOCKED: two schedulers share
    the work) and the unique (series, occurrence time) refuses a second copy, so a double run
    or a restart makes nothing twice."""
    now = now or timezone.now()
    made = 0
    for series_id in selectors.series_due_for_occurrences().values_list("id", flat=True):
        with transaction.atomic():
            series = (
                BroadcastSeries.objects.select_for_update(skip_locked=True)
                .filter(pk=series_id, status=BroadcastSeries.Status.APPROVED)
                .first()
            )
            if series is None or series.approved_at is None:
                continue
            after = max(series.approved_at, now - OCCURRENCE_CATCH_UP)
            times = selectors.series_occurrences_between(
                series=series, after=after, before=now + OCCURRENCE_LEAD
            )
            existing = set(
                series.occurrences.filter(occurrence_at__in=times).values_list(
                    "occurrence_at", flat=True
                )
            )
            for moment in times:
                if moment in existing:
                    continue
                if lifecycle.series_occurrence_create(series=series, occurrence_at=moment):
                    made += 1
    return made
