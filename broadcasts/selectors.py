"""Reads of the broadcasts app."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dateutil import rrule
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

import gateway
from broadcasts.models import (
    Broadcast,
    BroadcastEvent,
    BroadcastSeries,
    BroadcastSeriesEvent,
    Delivery,
    MessageTemplate,
)
from subscribers.models import Subscriber


@dataclass(frozen=True)
class DeliveryCounts:
    total: int
    queued: int  # waiting, including rows being sent right now
    sent: int  # accepted by WhatsApp, not (yet) confirmed delivered
    delivered: int
    read: int
    failed: int
    unknown: int = 0  # may have reached the citizen: never sent again by itself
    skipped: int = 0  # outside the window of a broadcast for those inside it only: not sent

    @property
    def done(self) -> int:
        return self.total - self.queued

    @property
    def percent_done(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def broadcast_delivery_counts(*, broadcast_id: int) -> DeliveryCounts:
    status = Delivery.Status
    counts = Delivery.objects.filter(broadcast_id=broadcast_id).aggregate(
        total=Count("id"),
        queued=Count("id", filter=Q(status__in=[status.QUEUED, status.SENDING])),
        sent=Count("id", filter=Q(status=status.SENT)),
        delivered=Count("id", filter=Q(status=status.DELIVERED)),
        read=Count("id", filter=Q(status=status.READ)),
        failed=Count("id", filter=Q(status=status.FAILED)),
        unknown=Count("id", filter=Q(status=status.UNKNOWN)),
        skipped=Count("id", filter=Q(status=status.SKIPPED)),
    )
    # Rows retention removed live on as counts on the broadcast.
    archived = Broadcast.objects.filter(pk=broadcast_id).values_list("archived_counts", flat=True)
    for name, count in (archived.first() or {}).items():
        if name in counts:
            counts[name] += count
            counts["total"] += count
    return DeliveryCounts(**counts)


@dataclass(frozen=True)
class Reach:
    """Who a broadcast approved now would reach, by how WhatsApp lets us reach them."""

    total: int  # every citizen a fan-out would make a row for
    in_window: int  # inside their 24-hour window: free text reaches them
    template_approved: bool  # the broadcast has a template Meta approved

    @property
    def template_only(self) -> int:
        """Outside their window: only an approved template reaches them."""
        return self.total - self.in_window

    @property
    def needs_window_only(self) -> bool:
        """Approving it for everyone would send free text where WhatsApp refuses it: without an
        approved template it can only be approved for those inside their window."""
        return self.template_only > 0 and not self.template_approved


def broadcast_reach(*, template: MessageTemplate | None, now: datetime | None = None) -> Reach:
    """Recipients now in total, inside their 24-hour window, and reached only by a template;
    one aggregate query over the subscribers a fan-out would pick."""
    now = now or timezone.now()
    counts = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).aggregate(
        total=Count("id"),
        in_window=Count("id", filter=Q(last_inbound_at__gt=now - gateway.CUSTOMER_SERVICE_WINDOW)),
    )
    return Reach(
        total=counts["total"],
        in_window=counts["in_window"],
        template_approved=template is not None and template.is_approved,
    )


def broadcast_failed_deliveries(*, broadcast_id: int) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.FAILED)
        .select_related("subscriber")
        .order_by("id")
    )


def emergency_is_sending() -> bool:
    return Broadcast.objects.filter(
        priority=Broadcast.Priority.EMERGENCY, status=Broadcast.Status.SENDING
    ).exists()


def broadcast_annotate_funnel(queryset: QuerySet[Broadcast]) -> QuerySet[Broadcast]:
    """Each broadcast with its funnel: funnel_sent ≥ funnel_delivered ≥ funnel_read, and
    funnel_failed. Correlated counts over the (broadcast, status) index, in the same query, so
    a page of broadcasts costs one query however many rows each has; rows that retention or an
    erasure removed count from the broadcast's `archived_counts`."""

    def count(*statuses: str) -> Coalesce:
        rows = (
            Delivery.objects.filter(broadcast=OuterRef("pk"), status__in=statuses)
            .order_by()
            .values("broadcast")
            .annotate(n=Count("id"))
            .values("n")
        )
        live = Coalesce(Subquery(rows, output_field=IntegerField()), 0)
        archived = [
            Coalesce(Cast(KT(f"archived_counts__{status}"), IntegerField()), 0)
            for status in statuses
        ]
        return sum(archived, live)

    status = Delivery.Status
    return queryset.annotate(
        funnel_sent=count(status.SENT, status.DELIVERED, status.READ),
        funnel_delivered=count(status.DELIVERED, status.READ),
        funnel_read=count(status.READ),
        funnel_failed=count(status.FAILED),
    )


def broadcast_has_retryable_failures(*, broadcast_id: int) -> bool:
    return Delivery.objects.filter(
        broadcast_id=broadcast_id, status=Delivery.Status.FAILED, error_retryable=True
    ).exists()


def broadcast_delivery_report(*, broadcast_id: int) -> Iterator[Delivery]:
    """Every delivery of a broadcast with its subscriber, streamed in chunks."""
    return (
        Delivery.objects.filter(broadcast_id=broadcast_id)
        .select_related("subscriber")
        .only(
            "status",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "error_code",
            "error_title",
            "subscriber__phone",
            "subscriber__wa_user_id",
        )
        .order_by("id")
        .iterator(chunk_size=2000)
    )


def broadcast_public_archive() -> QuerySet[Broadcast]:
    """Sent broadcasts staff marked public, newest first: the citizens' archive and its feeds."""
    return (
        Broadcast.objects.filter(is_public=True, status=Broadcast.Status.SENT)
        .select_related("template")
        .order_by(F("finished_at").desc(nulls_last=True), "-id")
    )


def broadcast_latest_with_funnel(*, limit: int) -> list[Broadcast]:
    """The newest broadcasts, each with its delivery funnel (see broadcast_annotate_funnel)."""
    return list(broadcast_annotate_funnel(Broadcast.objects.order_by("-created_at", "-id"))[:limit])


def broadcast_sending_now() -> Broadcast | None:
    """The broadcast sending right now (the most recently started, if several are)."""
    return (
        Broadcast.objects.filter(status=Broadcast.Status.SENDING)
        .order_by(F("started_at").desc(nulls_last=True), "-id")
        .first()
    )


def in_quiet_hours(moment: datetime) -> bool:
    """Many comuni's regulations send only in daytime; emergencies ignore this."""
    start, end = settings.BROADCAST_QUIET_HOURS
    if start == end:
        return False
    local = timezone.localtime(moment).time()
    return local >= start or local < end if start > end else start <= local < end


def quiet_hours_end(moment: datetime) -> datetime:
    """When the quiet hours that hold at `moment` end; `moment` itself outside them."""
    if not in_quiet_hours(moment):
        return moment
    _start, end = settings.BROADCAST_QUIET_HOURS
    local = timezone.localtime(moment)
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, end))


def broadcast_sending_starts_at(*, broadcast: Broadcast, now: datetime) -> datetime:
    """When an approved broadcast starts sending, seen at `now`: at its time (or at once), but
    not during quiet hours, which only emergencies ignore. The dispatcher runs every few
    seconds, so "at once" means within them."""
    start = max(broadcast.scheduled_at or now, now)
    return start if broadcast.is_emergency else quiet_hours_end(start)


def quiet_hours_label() -> str:
    """The quiet hours as staff read them ("21:00–08:00"); "" when there are none."""
    start, end = settings.BROADCAST_QUIET_HOURS
    if start == end:
        return ""
    return f"{start:%H:%M}–{end:%H:%M}"


def start_phrase(moment: datetime, *, now: datetime) -> str:
    """When `moment` is, said from `now`: "at 08:00", "at 08:00 tomorrow", "at 08:00 on
    05/12/2026" (local time)."""
    local = timezone.localtime(moment)
    today = timezone.localtime(now).date()
    values = {"time": f"{local:%H:%M}", "date": f"{local:%d/%m/%Y}"}
    if local.date() == today:
        return _("at %(time)s") % values
    if local.date() == today + timedelta(days=1):
        return _("at %(time)s tomorrow") % values
    return _("at %(time)s on %(date)s") % values


def broadcasts_awaiting_approval_by(*, user: User) -> QuerySet[Broadcast]:
    """What waits for `user`'s approval: submitted broadcasts they neither wrote nor changed
    (four eyes; all of them when BROADCAST_FOUR_EYES is off), emergencies first, then the
    longest waiting. Empty for someone who may not approve."""
    if not user.has_perm("broadcasts.approve_broadcast"):
        return Broadcast.objects.none()
    waiting = Broadcast.objects.filter(status=Broadcast.Status.AWAITING_APPROVAL)
    if settings.BROADCAST_FOUR_EYES:
        edited = BroadcastEvent.objects.filter(
            broadcast=OuterRef("pk"), action=BroadcastEvent.Action.EDITED, actor=user
        )
        waiting = waiting.exclude(created_by=user).exclude(Exists(edited))
    return (
        waiting.select_related("created_by")
        .annotate(
            submitted_at=Max(
                "events__at", filter=Q(events__action=BroadcastEvent.Action.SUBMITTED)
            ),
            emergency_first=Case(
                When(category=Broadcast.Category.EMERGENCY, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
        )
        .order_by("emergency_first", "submitted_at", "id")
    )


def broadcast_returned(*, broadcast: Broadcast) -> BroadcastEvent | None:
    """The approver's return to draft (with its note) that made this draft what it is now, if
    that is why it is a draft: None once it is submitted again, or for a new or withdrawn one."""
    if broadcast.status != Broadcast.Status.DRAFT:
        return None
    Action = BroadcastEvent.Action
    latest = (
        broadcast.events.filter(action__in=[Action.SUBMITTED, Action.RETURNED, Action.WITHDRAWN])
        .select_related("actor")
        .order_by("-at", "-id")
        .first()
    )
    return latest if latest is not None and latest.action == Action.RETURNED else None


def broadcasts_emergencies_to_confirm() -> QuerySet[Broadcast]:
    """Emergencies sent alone that no other approver has confirmed yet, newest first."""
    sent_alone = BroadcastEvent.objects.filter(
        broadcast=OuterRef("pk"), action=BroadcastEvent.Action.EMERGENCY
    )
    confirmed = BroadcastEvent.objects.filter(
        broadcast=OuterRef("pk"), action=BroadcastEvent.Action.CONFIRMED
    )
    return (
        Broadcast.objects.filter(Exists(sent_alone))
        .exclude(Exists(confirmed))
        .order_by("-approved_at", "-id")
    )


def recipient_rows_visible(*, user: User) -> bool:
    """Whether `user` may see a broadcast's per-recipient rows (masked): approvers always,
    editors only where the comune allows it (BROADCAST_REPORT_ROWS_FOR_EDITORS)."""
    return user.has_perm("broadcasts.approve_broadcast") or (
        settings.BROADCAST_REPORT_ROWS_FOR_EDITORS and user.has_perm("broadcasts.view_broadcast")
    )


# --- Recurring broadcasts ---------------------------------------------------------------------


def _local_naive(moment: datetime) -> datetime:
    return timezone.localtime(moment).replace(tzinfo=None)


def series_rule(series: BroadcastSeries) -> rrule.rrule:
    """The series' recurrence as a dateutil rule over local wall-clock times, so that "every
    Monday at 08:00" stays at 08:00 across the change to and from summer time. A monthly
    one on the 31st skips the months without one (RFC 5545); "the same weekday" counts which
    one of the month it is (the first Tuesday), the fifth becoming the last."""
    start = _local_naive(series.starts_at)
    Frequency = BroadcastSeries.Frequency
    options: dict = {}
    if series.frequency == Frequency.DAILY:
        freq = rrule.DAILY
    elif series.frequency == Frequency.WEEKLY:
        freq = rrule.WEEKLY
    else:
        freq = rrule.MONTHLY
        if series.frequency == Frequency.MONTHLY_WEEKDAY:
            nth = (start.day - 1) // 7 + 1
            options["byweekday"] = rrule.weekday(start.weekday(), nth if nth < 5 else -1)
    until = datetime.combine(series.ends_on, time.max) if series.ends_on else None
    return rrule.rrule(freq, dtstart=start, interval=series.interval, until=until, **options)


def series_occurrences_between(
    *, series: BroadcastSeries, after: datetime, before: datetime
) -> list[datetime]:
    """The series' occurrence times in [after, before], aware, in order."""
    if before < after:
        return []
    local = series_rule(series).between(_local_naive(after), _local_naive(before), inc=True)
    return [timezone.make_aware(moment) for moment in local]


def series_next_occurrences(
    *, series: BroadcastSeries, now: datetime, limit: int
) -> list[datetime]:
    """The next `limit` times of the series from `now` (the series' page shows them)."""
    upcoming = []
    for moment in series_rule(series).xafter(_local_naive(now), count=limit, inc=True):
        upcoming.append(timezone.make_aware(moment))
    return upcoming


def series_due_for_occurrences() -> QuerySet[BroadcastSeries]:
    """Approved series, whose occurrences the scheduler makes."""
    return BroadcastSeries.objects.filter(status=BroadcastSeries.Status.APPROVED).order_by("id")


def series_awaiting_approval_by(*, user: User) -> QuerySet[BroadcastSeries]:
    """Recurring broadcasts waiting for `user`'s approval: submitted, neither written nor
    changed by them (four eyes; all of them when BROADCAST_FOUR_EYES is off), the longest
    waiting first. Empty for someone who may not approve."""
    if not user.has_perm("broadcasts.approve_broadcast"):
        return BroadcastSeries.objects.none()
    waiting = BroadcastSeries.objects.filter(status=BroadcastSeries.Status.AWAITING_APPROVAL)
    if settings.BROADCAST_FOUR_EYES:
        edited = BroadcastSeriesEvent.objects.filter(
            series=OuterRef("pk"), action=BroadcastEvent.Action.EDITED, actor=user
        )
        waiting = waiting.exclude(created_by=user).exclude(Exists(edited))
    return (
        waiting.select_related("created_by")
        .annotate(
            submitted_at=Max("events__at", filter=Q(events__action=BroadcastEvent.Action.SUBMITTED))
        )
        .order_by("submitted_at", "id")
    )


# --- The calendar -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarEntry:
    """One broadcast in the calendar, at the time it starts (or started), or a recurring
    broadcast's occurrence still to be made (`broadcast` None, `series` set)."""

    at: datetime
    title: str
    status: str  # a Broadcast.Status value, or "planned"
    status_label: str
    broadcast: Broadcast | None = None
    series: BroadcastSeries | None = None
    held_by_quiet_hours: bool = False  # an approved one whose time falls in them

    @property
    def is_emergency(self) -> bool:
        return self.broadcast is not None and self.broadcast.is_emergency


PLANNED = "planned"
# How far the quiet hours may push a start: an approved broadcast due this long before a page's
# first day may start within it.
_QUIET_HOURS_REACH = timedelta(days=1)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def calendar_entries(*, first_day: date, last_day: date, now: datetime) -> list[CalendarEntry]:
    """What is scheduled and what went out from `first_day` to `last_day` (local days), in time
        order: approved broadcasts at the time they will start (the quiet hours' end, if they fall
        within them), started ones at the time they started, and the occurrences approved recurring
        broadcasts will make from now on. Two queries, and one per approved recurring broadcast,
    whatever the number of days."""
    start, end = _day_start(first_day), _day_start(last_day + timedelta(days=1))
    Status = Broadcast.Status
    entries: list[CalendarEntry] = []
    approved = (
        Broadcast.objects.filter(status=Status.APPROVED)
        .annotate(due=Coalesce("scheduled_at", "approved_at"))
        .filter(due__gte=start - _QUIET_HOURS_REACH, due__lt=end)
        .select_related("series")
    )
    for broadcast in approved:
        scheduled = max(broadcast.scheduled_at or now, now)
        at = broadcast_sending_starts_at(broadcast=broadcast, now=now)
        if start <= at < end:
            entries.append(
                CalendarEntry(
                    at=at,
                    title=broadcast.title,
                    status=broadcast.status,
                    status_label=broadcast.get_status_display(),
                    broadcast=broadcast,
                    series=broadcast.series,
                    held_by_quiet_hours=at > scheduled,
                )
            )
    started = Broadcast.objects.filter(
        started_at__gte=start, started_at__lt=end, started_at__isnull=False
    ).select_related("series")
    for went in started:
        assert went.started_at is not None  # noqa: S101 - filtered above
        entries.append(
            CalendarEntry(
                at=went.started_at,
                title=went.title,
                status=went.status,
                status_label=went.get_status_display(),
                broadcast=went,
                series=went.series,
            )
        )
    entries.extend(_planned_occurrences(start=max(start, now), end=end))
    return sorted(entries, key=lambda entry: (entry.at, entry.title))


def _planned_occurrences(*, start: datetime, end: datetime) -> list[CalendarEntry]:
    """Occurrences approved series will make in [start, end) that are not broadcasts yet."""
    if end <= start:
        return []
    planned = []
    for series in series_due_for_occurrences():
        made = set(
            series.occurrences.filter(occurrence_at__gte=start, occurrence_at__lt=end).values_list(
                "occurrence_at", flat=True
            )
        )
        for moment in series_occurrences_between(
            series=series, after=start, before=end - timedelta(microseconds=1)
        ):
            if moment not in made and (series.approved_at is None or moment > series.approved_at):
                planned.append(
                    CalendarEntry(
                        at=moment,
                        title=series.title,
                        status=PLANNED,
                        status_label=_("planned (recurring)"),
                        series=series,
                    )
                )
    return planned
