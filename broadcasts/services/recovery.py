"""What a lost worker or a lost task left behind, put back on its way. Claims make every step
here harmless to repeat: a row is sent at most once whatever runs twice."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from broadcasts import lifecycle
from broadcasts.models import Broadcast, Delivery
from broadcasts.services.fanout import broadcast_fan_out, deliveries_enqueue_ranges

logger = logging.getLogger(__name__)

# A row left in `sending` this long lost its worker; the status webhook (our callback data)
# would have recorded it had Meta accepted it.
STUCK_AFTER = timedelta(minutes=10)


def deliveries_requeue_stuck(*, now: datetime | None = None) -> int:
    """The reaper: rows a killed worker left in `sending`, with no sign Meta accepted them."""
    now = now or timezone.now()
    stuck = Delivery.objects.filter(
        status=Delivery.Status.SENDING, claimed_at__lt=now - STUCK_AFTER, wamid__isnull=True
    )
    broadcast_ids = set(stuck.values_list("broadcast_id", flat=True).distinct())
    count = stuck.update(status=Delivery.Status.QUEUED, next_attempt_at=None)
    for broadcast_id in broadcast_ids:
        transaction.on_commit(
            functools.partial(deliveries_enqueue_ranges, broadcast_id=broadcast_id)
        )
    if count:
        logger.warning("requeued %s deliveries left in 'sending' by a lost worker", count)
    return count


def broadcasts_resume_stalled(*, now: datetime | None = None) -> list[int]:
    """Restart sending broadcasts that stopped moving: their tasks were lost (a Redis restart)
    or, in the embedded mode, there is no broker to run a retry later."""
    now = now or timezone.now()
    quiet_since = now - settings.BROADCAST_STALLED_AFTER
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    stalled = []
    sending = Broadcast.objects.filter(status=Broadcast.Status.SENDING, started_at__lt=quiet_since)
    for broadcast in sending:
        deliveries = Delivery.objects.filter(broadcast=broadcast)
        if deliveries.filter(claimed_at__gte=quiet_since).exists():
            continue
        if deliveries.filter(due, status=Delivery.Status.QUEUED).exists():
            stalled.append(broadcast.pk)
            deliveries_enqueue_ranges(broadcast_id=broadcast.pk)
        elif not deliveries.exists():
            broadcast_fan_out(broadcast_id=broadcast.pk)  # the fan-out task itself was lost
        else:
            lifecycle.broadcast_complete(broadcast_id=broadcast.pk)
    return stalled
