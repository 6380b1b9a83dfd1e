"""Sending a broadcast's queued rows: claimed atomically, sent concurrently over one pooled
connection (each send takes a slot of the number's rate limit in the gateway), outcomes written
back in bulk."""

from __future__ import annotations

import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Event

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

import gateway
from broadcasts import lifecycle, selectors, sql
from broadcasts.models import Broadcast, Delivery
from subscribers.models import Subscriber
from subscribers.services.delivery import subscribers_note_send_failure

logger = logging.getLogger(__name__)

DeliveryStatus = Delivery.Status

DELIVERY_MAX_ATTEMPTS = 6
# How long one run of a range task should send for at the configured rate: a worker process
# then frees up every second or so for a keyword's reply, instead of holding it for minutes.
SEND_TASK_SECONDS = 1.0


@dataclass(frozen=True)
class RangeOutcome:
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None  # seconds until the range should run again, if at all


def broadcast_message(
    *,
    broadcast: Broadcast,
    to: str,
    callback_data: str | None,
    window_open: bool = False,
) -> gateway.Message:
    """What a citizen receives. Inside the citizen's 24-hour window a free text may go; outside
    it only a template."""
    template = broadcast.template
    if template is None or (window_open and broadcast.body):
        return gateway.TextMessage(to=to, body=broadcast.body, callback_data=callback_data)
    return gateway.TemplateMessage(
        to=to,
        name=template.name,
        language=template.language,
        body_parameters=tuple(broadcast.template_parameters),
        callback_data=callback_data,
        body_text=template.body,
    )


def deliveries_task_rows() -> int | None:
    """Rows one run of a range task sends: about SEND_TASK_SECONDS of the rate, at least one
    round of the send threads; None (the whole range) with the rate limit off."""
    rate = settings.WHATSAPP_RATE_PER_SECOND
    if rate <= 0:
        return None
    return max(settings.BROADCAST_SEND_CONCURRENCY, int(rate * SEND_TASK_SECONDS))


def deliveries_send_range(
    *, broadcast_id: int, first_id: int, last_id: int, max_rows: int | None = None
) -> RangeOutcome:
    """Send a broadcast's queued rows with ids in [first_id, last_id], once each.

    A fatal sender error (bad token) pauses the broadcast and puts unsent rows back in the
    queue. With `max_rows`, at most that many rows go in this run and the rest is left queued
    (retry_in 0): the task runs again for them.
    """
    broadcast = Broadcast.objects.select_related("template").get(pk=broadcast_id)
    if broadcast.status != Broadcast.Status.SENDING:
        return RangeOutcome()  # paused or cancelled: rows stay queued, or were ended
    if not broadcast.is_emergency:
        if selectors.emergency_is_sending():
            return RangeOutcome(retry_in=5.0)
        if selectors.in_quiet_hours(timezone.now()):
            return RangeOutcome(retry_in=300.0)
    now = timezone.now()
    capacity = _messaging_capacity(now)
    if capacity == 0:
        return RangeOutcome(retry_in=settings.BROADCAST_MESSAGING_LIMIT_RETRY_SECONDS)
    limit = capacity if max_rows is None else min(max_rows, capacity or max_rows)
    rows = _claim(broadcast_id, first_id, last_id, now, limit)
    results = _send(broadcast, rows, window_start=now - timedelta(hours=24))
    sent, failed, paused = _record_outcomes(broadcast, rows, results)
    if paused:
        return RangeOutcome(sent=sent, failed=failed)
    retry_in = _range_retry_in(broadcast_id, first_id, last_id)
    capacity_bound = capacity is not None and (max_rows is None or capacity <= max_rows)
    if retry_in is not None and capacity_bound and len(rows) == capacity:
        # The messaging limit cut this range short: the rest waits for the window to move.
        retry_in = max(retry_in, settings.BROADCAST_MESSAGING_LIMIT_RETRY_SECONDS)
    if retry_in is None:
        lifecycle.broadcast_complete(broadcast_id=broadcast_id)
    return RangeOutcome(sent=sent, failed=failed, retry_in=retry_in)


def _send(
    broadcast: Broadcast, rows: list[Delivery], *, window_start: datetime
) -> list[gateway.SendResult | None]:
    """One result per row, None for rows not attempted because a fatal error stopped the batch."""
    if not rows:
        return []
    stop = Event()

    def send(backend: gateway.BaseBackend, delivery: Delivery) -> gateway.SendResult | None:
        if stop.is_set():
            return None
        subscriber = delivery.subscriber
        window_open = bool(subscriber.last_inbound_at and subscriber.last_inbound_at > window_start)
        message = broadcast_message(
            broadcast=broadcast,
            to=subscriber.address,
            callback_data=f"d:{delivery.pk}",
            window_open=window_open,
        )
        result = backend.send(message)
        if result.error and result.error.kind == gateway.ErrorKind.FATAL:
            stop.set()
        return result

    with gateway.get_backend() as backend:
        workers = min(settings.BROADCAST_SEND_CONCURRENCY, len(rows))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda row: send(backend, row), rows))


def _claim(
    broadcast_id: int, first_id: int, last_id: int, now: datetime, limit: int | None
) -> list[Delivery]:
    """Atomically take the range's due queued rows (queued → sending); nobody else can."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    with transaction.atomic():
        rows = Delivery.objects.filter(
            due,
            broadcast_id=broadcast_id,
            id__gte=first_id,
            id__lte=last_id,
            status=DeliveryStatus.QUEUED,
        )
        # A citizen who withdrew, or asked WhatsApp to stop, mid-broadcast gets nothing more.
        rows.exclude(
            subscriber__status=Subscriber.Status.ACTIVE, subscriber__messages_stopped_at=None
        ).update(
            status=DeliveryStatus.FAILED,
            failed_at=now,
            error_title=_("No longer subscribed"),
            error_retryable=False,
        )
        claimable = rows.select_for_update(skip_locked=True).order_by("id")
        ids = list(claimable.values_list("id", flat=True)[:limit])
        Delivery.objects.filter(id__in=ids).update(
            status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return list(
        Delivery.objects.filter(id__in=ids)
        .select_related("subscriber")
        .only(
            "id",
            "attempts",
            "subscriber_id",
            "subscriber__phone",
            "subscriber__wa_user_id",
            "subscriber__last_inbound_at",
        )
        .order_by("id")
    )


def _messaging_capacity(now: datetime) -> int | None:
    """How many more citizens Meta's messaging limit lets us reach now; None: no limit."""
    limit = settings.WHATSAPP_MESSAGING_LIMIT
    if not limit:
        return None
    reached = (
        Delivery.objects.filter(sent_at__gte=now - timedelta(hours=24))
        .values("subscriber_id")
        .distinct()
        .count()
    )
    return max(limit - reached, 0)


def _backoff(attempts: int) -> timedelta:
    """Exponential, with full jitter so retried rows do not all come back at once."""
    ceiling = min(settings.BROADCAST_RETRY_BASE_SECONDS * 2**attempts, 3600)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - not crypto


def _range_retry_in(broadcast_id: int, first_id: int, last_id: int) -> float | None:
    """Seconds until the range's next queued row is due; None when nothing is left queued."""
    pending = Delivery.objects.filter(
        broadcast_id=broadcast_id, id__gte=first_id, id__lte=last_id, status=DeliveryStatus.QUEUED
    ).aggregate(count=Count("id"), first_due=Min("next_attempt_at"))
    if not pending["count"]:
        return None
    if pending["first_due"] is None:
        return 0.0
    return max(0.0, (pending["first_due"] - timezone.now()).total_seconds())


def _record_outcomes(
    broadcast: Broadcast, rows: list[Delivery], results: list[gateway.SendResult | None]
) -> tuple[int, int, bool]:
    """Write the sends' outcomes in bulk; returns (sent, failed, whether the broadcast paused)."""
    now = timezone.now()
    accepted: dict[int, str] = {}
    failed: dict[gateway.SendError, list[Delivery]] = {}
    requeue: dict[int, datetime | None] = {}
    fatal: gateway.SendError | None = None
    for delivery, result in zip(rows, results, strict=True):
        if result is None:  # not attempted: a fatal error stopped the batch
            requeue[delivery.pk] = None
        elif result.error is None:
            accepted[delivery.pk] = result.message_id or ""
        elif result.error.kind == gateway.ErrorKind.FATAL:
            fatal = result.error
            requeue[delivery.pk] = None
        elif result.error.retryable and delivery.attempts < DELIVERY_MAX_ATTEMPTS:
            requeue[delivery.pk] = now + _backoff(delivery.attempts)
        else:
            failed.setdefault(result.error, []).append(delivery)

    with transaction.atomic():
        # In id order, as the status webhooks lock theirs.
        sql.deliveries_lock_in_id_order([delivery.pk for delivery in rows])
        if accepted:
            # A status webhook may have overtaken us (matched by callback data): only rows
            # still `sending` are moved, and never backwards.
            sql.deliveries_update_each(
                {pk: (wamid,) for pk, wamid in accepted.items()},
                columns=(("wamid", "text"),),
                only_sending=True,
                status=DeliveryStatus.SENT,
                sent_at=now,
            )
        for error, deliveries in failed.items():
            Delivery.objects.filter(
                pk__in=[d.pk for d in deliveries], status=DeliveryStatus.SENDING
            ).update(
                status=DeliveryStatus.FAILED,
                failed_at=now,
                error_code=error.code,
                error_title=error.title[:300],
                error_retryable=error.retryable,
            )
            subscribers_note_send_failure(
                error_code=error.code, subscriber_ids=[d.subscriber_id for d in deliveries]
            )
        if requeue:
            # Attempts that never reached Meta are not counted against the row.
            not_attempted = [pk for pk, at in requeue.items() if at is None]
            Delivery.objects.filter(pk__in=not_attempted).update(
                status=DeliveryStatus.QUEUED, next_attempt_at=None, attempts=F("attempts") - 1
            )
            later = {pk: at for pk, at in requeue.items() if at is not None}
            sql.deliveries_update_each(
                {pk: (at,) for pk, at in later.items()},
                columns=(("next_attempt_at", "timestamptz"),),
                status=DeliveryStatus.QUEUED,
            )
        if fatal is not None:
            reason = f"{fatal.code or ''} {fatal.title}".strip()
            lifecycle.broadcast_pause_on_fault(broadcast_id=broadcast.pk, reason=reason)
            logger.error("broadcast %s paused: %s", broadcast.pk, reason)

    return len(accepted), sum(len(d) for d in failed.values()), fatal is not None
