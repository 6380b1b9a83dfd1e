"""Starting due broadcasts and making their Delivery rows, then queueing the range tasks that
send them."""

from __future__ import annotations

import functools
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from broadcasts import lifecycle, selectors, sql
from broadcasts.models import Broadcast, Delivery
from comune.celery import broadcast_queue, enqueue
from subscribers.models import Subscriber

Status = Broadcast.Status

# Delivery ids one range task covers.
RANGE_SIZE = 500


def broadcasts_dispatch_due(*, now: datetime | None = None) -> list[int]:
    """Start every approved broadcast whose time has come, each exactly once.

    Rows are claimed with SELECT … FOR UPDATE SKIP LOCKED, so several beat or worker hosts
    polling at once never start the same broadcast twice. Normal broadcasts wait out quiet hours.
    """
    now = now or timezone.now()
    due = Q(status=Status.APPROVED) & (Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now))
    if selectors.in_quiet_hours(now):
        due &= Q(priority=Broadcast.Priority.EMERGENCY)
    with transaction.atomic():
        due_broadcasts = list(
            Broadcast.objects.select_for_update(skip_locked=True)
            .filter(due)
            .order_by("-priority", "scheduled_at", "id")
            .values_list("id", "priority")[:20]
        )
        ids = [pk for pk, _priority in due_broadcasts]
        if ids:
            lifecycle.broadcasts_start(broadcast_ids=ids, now=now)
            for pk, priority in due_broadcasts:
                queue = broadcast_queue(emergency=priority == Broadcast.Priority.EMERGENCY)
                transaction.on_commit(
                    functools.partial(
                        enqueue, "broadcasts.tasks.broadcast_fan_out", pk, queue=queue
                    )
                )
    return ids


def broadcast_fan_out(*, broadcast_id: int) -> int:
    """Create a Delivery row for every active subscriber, set-based, then start sending.

    One INSERT … SELECT per slice of subscriber ids. Running it twice adds nothing (see
    `sql.deliveries_insert_slice`). Returns the rows created.
    """
    subscribers = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).values_list("id")
    low = subscribers.order_by("id").first()
    high = subscribers.order_by("-id").first()
    created = 0
    if low is not None and high is not None:
        now = timezone.now()
        step = settings.BROADCAST_FAN_OUT_SLICE
        for start in range(low[0], high[0] + 1, step):
            created += sql.deliveries_insert_slice(
                broadcast_id=broadcast_id, start=start, stop=start + step, now=now
            )
    deliveries_enqueue_ranges(broadcast_id=broadcast_id)
    return created


def deliveries_enqueue_ranges(*, broadcast_id: int, countdown: float | None = None) -> int:
    """One range task per RANGE_SIZE ids that still have queued rows; a broadcast with none left
    is complete. Returns the tasks queued."""
    broadcast = Broadcast.objects.only("priority").get(pk=broadcast_id)
    queue = broadcast_queue(emergency=broadcast.is_emergency)
    pending = Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.QUEUED)
    first = pending.order_by("id").values_list("id", flat=True).first()
    last = pending.order_by("-id").values_list("id", flat=True).first()
    if first is None or last is None:
        lifecycle.broadcast_complete(broadcast_id=broadcast_id)
        return 0
    count = 0
    for start in range(first, last + 1, RANGE_SIZE):
        enqueue(
            "broadcasts.tasks.deliveries_send_range",
            broadcast_id,
            start,
            start + RANGE_SIZE - 1,
            queue=queue,
            countdown=countdown,
        )
        count += 1
    return count
