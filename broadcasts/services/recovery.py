"""What a lost worker or a lost task left behind, put back on its way. Claims make every step
here harmless to repeat: a row is sent at most once whatever runs twice."""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast, Delivery
from broadcasts.services.fanout import broadcast_fan_out, deliveries_enqueue_ranges

logger = logging.getLogger(__name__)


def deliveries_requeue_stuck(*, now: datetime | None = None) -> int:
    """The reaper: rows a lost worker left in `sending` (claimed BROADCAST_STUCK_AFTER ago).
    A row never marked attempted never left, and is queued again; a row marked attempted may
    have reached Meta, so it is never sent again by itself: it becomes `unknown` (its status
    webhook, matched by our callback data, settles it if Meta accepted it). Returns the rows
    queued again."""
    now = now or timezone.now()
    stuck = Delivery.objects.filter(
        status=Delivery.Status.SENDING,
        claimed_at__lt=now - settings.BROADCAST_STUCK_AFTER,
        wamid__isnull=True,
    )
    with transaction.atomic():
        never_left = stuck.filter(attempted_at__isnull=True)
        broadcast_ids = set(never_left.values_list("broadcast_id", flat=True).distinct())
        requeued = never_left.update(
            status=Delivery.Status.QUEUED,
            next_attempt_at=None,
            attempts=Greatest(F("attempts") - 1, 0),
        )
        unknown = stuck.filter(attempted_at__isnull=False).update(
            status=Delivery.Status.UNKNOWN, error_title=_("Its worker stopped during the send")
        )
    for broadcast_id in broadcast_ids:
        transaction.on_commit(
            functools.partial(deliveries_enqueue_ranges, broadcast_id=broadcast_id)
        )
    if requeued:
        logger.warning("requeued %s deliveries a lost worker had claimed but not sent", requeued)
    if unknown:
        logger.warning("%s deliveries a lost worker was sending: outcome unknown", unknown)
    return requeued


def broadcasts_resume_stalled(*, now: datetime | None = None) -> list[int]:
    """Restart sending broadcasts that stopped moving: their tasks were lost (a Redis restart)
    or, in the embedded mode, there is no broker to run a retry later."""
    now = now or timezone.now()
    quiet_since = now - settings.BROADCAST_STALLED_AFTER
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    stalled = []
    sending = Broadcast.objects.filter(status=Broadcast.Status.SENDING, started_at__lt=quiet_since)
    held = selectors.in_quiet_hours(now) or selectors.emergency_is_sending()
    for broadcast in sending:
        if held and not broadcast.is_emergency:
            continue  # not stalled but waiting: its range tasks come back by themselves
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
