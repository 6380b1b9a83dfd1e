"""Writes of the broadcasts app: the lifecycle staff drive, and delivery to every subscriber."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Event

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

import gateway
from broadcasts import selectors, status_buffer
from broadcasts.models import Broadcast, BroadcastEvent, Delivery, MessageTemplate
from broadcasts.ratelimit import rate_limiter
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)

Status = Broadcast.Status
DeliveryStatus = Delivery.Status
Action = BroadcastEvent.Action

# Rows a delivery task claims and sends at once; ids a task covers.
RANGE_SIZE = 500
DELIVERY_MAX_ATTEMPTS = 6
# A row left in `sending` this long lost its worker; the status webhook (our callback data)
# would have recorded it had Meta accepted it.
STUCK_AFTER = timedelta(minutes=10)
UNDELIVERABLE_LIMIT = 3


class TransitionNotAllowed(Exception):
    """The broadcast is not in a state this action applies to, or the actor may not do it."""


# --- Lifecycle -------------------------------------------------------------------------------


def _record(broadcast: Broadcast, action: str, actor: AbstractBaseUser | None, note: str = ""):
    BroadcastEvent.objects.create(broadcast=broadcast, action=action, actor=actor, note=note)


def _transition(
    broadcast: Broadcast,
    *,
    allowed_from: Iterable[str],
    to: str,
    action: BroadcastEvent.Action,
    actor: AbstractBaseUser | None,
    note: str = "",
    **fields,
) -> Broadcast:
    """Move a broadcast to `to` if it is still in one of `allowed_from`; record who and when.

    Locks the broadcast row, so two staff clicking at once cannot both succeed.
    """
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.status not in allowed_from:
            raise TransitionNotAllowed(
                _("This broadcast is %(status)s: “%(action)s” does not apply.")
                % {"status": locked.get_status_display(), "action": action.label}
            )
        locked.status = to
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=["status", *fields])
        _record(locked, action, actor, note)
    return locked


def _require_approver(actor: AbstractBaseUser) -> None:
    if not actor.has_perm("broadcasts.approve_broadcast"):
        raise TransitionNotAllowed(_("You are not allowed to approve broadcasts."))


def broadcast_create(*, author: AbstractBaseUser, **fields) -> Broadcast:
    with transaction.atomic():
        broadcast = Broadcast.objects.create(created_by=author, **fields)
        _record(broadcast, Action.CREATED, author)
    return broadcast


def broadcast_submit(*, broadcast: Broadcast, actor: AbstractBaseUser) -> Broadcast:
    return _transition(
        broadcast,
        allowed_from=[Status.DRAFT],
        to=Status.AWAITING_APPROVAL,
        action=Action.SUBMITTED,
        actor=actor,
    )


def broadcast_reject(*, broadcast: Broadcast, actor: AbstractBaseUser, note: str = "") -> Broadcast:
    _require_approver(actor)
    return _transition(
        broadcast,
        allowed_from=[Status.AWAITING_APPROVAL],
        to=Status.DRAFT,
        action=Action.RETURNED,
        actor=actor,
        note=note,
    )


def broadcast_approve(
    *, broadcast: Broadcast, actor: AbstractBaseUser, scheduled_at: datetime | None = None
) -> Broadcast:
    """Approve for sending now or at `scheduled_at`. Four eyes: the approver is not the author,
    unless BROADCAST_FOUR_EYES is off (a one-person office)."""
    _require_approver(actor)
    if settings.BROADCAST_FOUR_EYES and broadcast.created_by_id == actor.pk:
        raise TransitionNotAllowed(_("Another person must approve what you wrote."))
    approved = _transition(
        broadcast,
        allowed_from=[Status.AWAITING_APPROVAL],
        to=Status.APPROVED,
        action=Action.APPROVED,
        actor=actor,
        note=_scheduled_note(scheduled_at),
        approved_by=actor,
        approved_at=timezone.now(),
        scheduled_at=scheduled_at,
    )
    transaction.on_commit(_dispatch_soon)
    return approved


def broadcast_send_emergency(*, broadcast: Broadcast, actor: AbstractBaseUser) -> Broadcast:
    """An emergency goes out in one step, approved by whoever may approve, author or not."""
    _require_approver(actor)
    if not broadcast.is_emergency:
        raise TransitionNotAllowed(_("Only an emergency can be approved and sent in one step."))
    approved = _transition(
        broadcast,
        allowed_from=[Status.DRAFT, Status.AWAITING_APPROVAL],
        to=Status.APPROVED,
        action=Action.EMERGENCY,
        actor=actor,
        approved_by=actor,
        approved_at=timezone.now(),
        scheduled_at=None,
    )
    transaction.on_commit(_dispatch_soon)
    return approved


def _scheduled_note(scheduled_at: datetime | None) -> str:
    if scheduled_at is None:
        return ""
    return _("to send at %s") % timezone.localtime(scheduled_at).strftime("%d/%m/%Y %H:%M")


def broadcast_pause(*, broadcast: Broadcast, actor: AbstractBaseUser | None, reason: str = ""):
    if actor is not None:
        _require_approver(actor)
    return _transition(
        broadcast,
        allowed_from=[Status.APPROVED, Status.SENDING],
        to=Status.PAUSED,
        action=Action.PAUSED,
        actor=actor,
        note=reason,
        paused_reason=reason[:500],
    )


def broadcast_resume(*, broadcast: Broadcast, actor: AbstractBaseUser) -> Broadcast:
    """Carry on where it stopped: rows already sent are not sent again."""
    _require_approver(actor)
    started = broadcast.started_at is not None
    resumed = _transition(
        broadcast,
        allowed_from=[Status.PAUSED],
        to=Status.SENDING if started else Status.APPROVED,
        action=Action.RESUMED,
        actor=actor,
        paused_reason="",
    )
    if started:
        transaction.on_commit(lambda: _enqueue_ranges(resumed.pk))
    else:
        transaction.on_commit(_dispatch_soon)
    return resumed


def broadcast_cancel(*, broadcast: Broadcast, actor: AbstractBaseUser) -> Broadcast:
    """Stop for good. Rows not yet sent end as failed, saying why."""
    if broadcast.status != Status.DRAFT or broadcast.created_by_id != actor.pk:
        _require_approver(actor)
    with transaction.atomic():
        cancelled = _transition(
            broadcast,
            allowed_from=[
                Status.DRAFT,
                Status.AWAITING_APPROVAL,
                Status.APPROVED,
                Status.SENDING,
                Status.PAUSED,
            ],
            to=Status.CANCELLED,
            action=Action.CANCELLED,
            actor=actor,
            finished_at=timezone.now(),
        )
        Delivery.objects.filter(broadcast=cancelled, status=DeliveryStatus.QUEUED).update(
            status=DeliveryStatus.FAILED,
            failed_at=timezone.now(),
            error_title=_("Broadcast cancelled"),
            error_retryable=False,
        )
    return cancelled


def broadcast_retry_failed(*, broadcast: Broadcast, actor: AbstractBaseUser) -> int:
    """Queue again the rows that failed for a reason worth retrying; returns how many."""
    _require_approver(actor)
    with transaction.atomic():
        count = Delivery.objects.filter(
            broadcast=broadcast, status=DeliveryStatus.FAILED, error_retryable=True
        ).update(status=DeliveryStatus.QUEUED, attempts=0, next_attempt_at=None, failed_at=None)
        if count:
            _transition(
                broadcast,
                allowed_from=[Status.SENT, Status.SENDING],
                to=Status.SENDING,
                action=Action.RETRYING,
                actor=actor,
                note=str(count),
                finished_at=None,
            )
            transaction.on_commit(lambda: _enqueue_ranges(broadcast.pk))
    return count


def broadcast_send_test(
    *, broadcast: Broadcast, actor: AbstractBaseUser, phone: str
) -> gateway.SendResult:
    """Send the broadcast, as a citizen would get it, to one staff number before approval."""
    message = broadcast_message(broadcast=broadcast, to=phone, callback_data=None)
    with gateway.get_backend() as backend:
        result = backend.send(message)
    _record(broadcast, Action.TEST_SENT, actor, _("delivered") if result.ok else result.error.title)
    return result


# --- What a citizen receives -----------------------------------------------------------------


def broadcast_message(
    *,
    broadcast: Broadcast,
    to: str,
    callback_data: str | None,
    window_open: bool = False,
) -> gateway.Message:
    """Inside the citizen's 24-hour window a free text may go; outside it only a template."""
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


def templates_sync(*, templates: list[dict]) -> tuple[int, int]:
    """Mirror Meta's templates (as the gateway lists them); returns (created, updated).
    Templates Meta no longer lists are kept, marked as such, since broadcasts refer to them."""
    created = updated = 0
    seen = []
    with transaction.atomic():
        for item in templates:
            _, was_created = MessageTemplate.objects.update_or_create(
                name=item["name"],
                language=item["language"],
                defaults={
                    "category": item.get("category", ""),
                    "status": item.get("status", ""),
                    "header": (item.get("header") or "")[:60],
                    "body": item.get("body") or "",
                },
            )
            created += was_created
            updated += not was_created
            seen.append((item["name"], item["language"]))
        for template in MessageTemplate.objects.all():
            if (template.name, template.language) not in seen:
                template.status = "DELETED"
                template.save(update_fields=["status", "synced_at"])
    return created, updated


# --- Scheduling and fan-out ------------------------------------------------------------------


def _dispatch_soon() -> None:
    from broadcasts import tasks

    tasks.broadcasts_dispatch_due.delay()


def in_quiet_hours(moment: datetime) -> bool:
    """Many comuni's regulations send only in daytime; emergencies ignore this."""
    start, end = settings.BROADCAST_QUIET_HOURS
    if start == end:
        return False
    local = timezone.localtime(moment).time()
    return local >= start or local < end if start > end else start <= local < end


def broadcasts_dispatch_due(*, now: datetime | None = None) -> list[int]:
    """Start every approved broadcast whose time has come, each exactly once.

    Rows are claimed with SELECT … FOR UPDATE SKIP LOCKED, so several beat or worker hosts
    polling at once never start the same broadcast twice. Normal broadcasts wait out quiet hours.
    """
    now = now or timezone.now()
    due = Q(status=Status.APPROVED) & (Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now))
    if in_quiet_hours(now):
        due &= Q(priority=Broadcast.Priority.EMERGENCY)
    with transaction.atomic():
        ids = list(
            Broadcast.objects.select_for_update(skip_locked=True)
            .filter(due)
            .order_by("-priority", "scheduled_at", "id")
            .values_list("id", flat=True)[:20]
        )
        if ids:
            Broadcast.objects.filter(id__in=ids).update(status=Status.SENDING, started_at=now)
            BroadcastEvent.objects.bulk_create(
                BroadcastEvent(broadcast_id=pk, action=Action.STARTED) for pk in ids
            )
            from broadcasts import tasks

            for pk in ids:
                transaction.on_commit(lambda pk=pk: tasks.broadcast_fan_out.delay(pk))
    return ids


def broadcast_fan_out(*, broadcast_id: int) -> int:
    """Create a Delivery row for every active subscriber, set-based, then start sending.

    One INSERT … SELECT per slice of subscriber ids. Running it twice adds nothing: a slice
    that meets rows made before (a restarted or concurrent fan-out, or new subscribers since)
    is inserted again skipping those. Returns the rows created.
    """
    subscribers = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).values_list("id")
    low = subscribers.order_by("id").first()
    high = subscribers.order_by("-id").first()
    created = 0
    if low is not None:
        now = timezone.now()
        step = settings.BROADCAST_FAN_OUT_SLICE
        for start in range(low[0], high[0] + 1, step):
            created += _fan_out_slice(broadcast_id, start, start + step, now)
    _enqueue_ranges(broadcast_id)
    return created


def _fan_out_slice(broadcast_id: int, start: int, stop: int, now: datetime) -> int:
    sql = f"""
        INSERT INTO {Delivery._meta.db_table}
            (broadcast_id, subscriber_id, status, attempts, queued_at,
             error_title, error_retryable)
        SELECT %s, s.id, %s, 0, %s, '', %s
        FROM {Subscriber._meta.db_table} s
        WHERE s.status = %s AND s.messages_stopped_at IS NULL AND s.id >= %s AND s.id < %s
    """  # noqa: S608 - table names come from models, values are parameters
    params = [
        broadcast_id,
        DeliveryStatus.QUEUED,
        now,
        False,
        Subscriber.Status.ACTIVE,
        start,
        stop,
    ]
    with connection.cursor() as cursor:
        try:
            # The usual case, a slice never fanned out: a plain INSERT is a third cheaper than
            # one that checks each row for a conflict first.
            with transaction.atomic():
                cursor.execute(sql, params)
        except IntegrityError:
            # Rows of this slice exist (a done slice fails on its first row, at little cost).
            cursor.execute(f"{sql} ON CONFLICT (broadcast_id, subscriber_id) DO NOTHING", params)
        return max(cursor.rowcount, 0)


def _enqueue_ranges(broadcast_id: int, countdown: float | None = None) -> int:
    """One delivery task per RANGE_SIZE ids that still have queued rows."""
    from broadcasts import tasks

    broadcast = Broadcast.objects.only("priority").get(pk=broadcast_id)
    queue = tasks.queue_for(broadcast)
    pending = Delivery.objects.filter(broadcast_id=broadcast_id, status=DeliveryStatus.QUEUED)
    first = pending.order_by("id").values_list("id", flat=True).first()
    last = pending.order_by("-id").values_list("id", flat=True).first()
    if first is None:
        broadcast_complete_if_done(broadcast_id=broadcast_id)
        return 0
    count = 0
    for start in range(first, last + 1, RANGE_SIZE):
        tasks.deliveries_send_range.apply_async(
            (broadcast_id, start, start + RANGE_SIZE - 1), queue=queue, countdown=countdown
        )
        count += 1
    return count


def broadcast_complete_if_done(*, broadcast_id: int) -> bool:
    """A sending broadcast with nothing left queued or in flight is sent."""
    unfinished = Delivery.objects.filter(
        broadcast_id=broadcast_id, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]
    )
    if unfinished.exists():
        return False
    with transaction.atomic():
        done = Broadcast.objects.filter(pk=broadcast_id, status=Status.SENDING).update(
            status=Status.SENT, finished_at=timezone.now()
        )
        if done:
            BroadcastEvent.objects.create(broadcast_id=broadcast_id, action=Action.SENT)
    return bool(done)


# --- Delivery --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeOutcome:
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None  # seconds until the range should run again, if at all


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


# How long one run of a range task should send for at the configured rate: a worker process
# then frees up every second or so for a keyword's reply, instead of holding it for minutes.
SEND_TASK_SECONDS = 1.0


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

    Sends run concurrently over one pooled connection, each waiting its turn under the global
    rate limit; outcomes are written back in bulk. A fatal sender error (bad token) pauses the
    broadcast and puts unsent rows back in the queue. With `max_rows`, at most that many rows
    go in this run and the rest is left queued (retry_in 0): the task runs again for them.
    """
    broadcast = Broadcast.objects.select_related("template").get(pk=broadcast_id)
    if broadcast.status != Status.SENDING:
        return RangeOutcome()  # paused or cancelled: rows stay queued, or were ended
    if not broadcast.is_emergency:
        if selectors.emergency_is_sending():
            return RangeOutcome(retry_in=5.0)
        if in_quiet_hours(timezone.now()):
            return RangeOutcome(retry_in=300.0)
    now = timezone.now()
    capacity = _messaging_capacity(now)
    if capacity == 0:
        return RangeOutcome(retry_in=settings.BROADCAST_MESSAGING_LIMIT_RETRY_SECONDS)
    limit = capacity if max_rows is None else min(max_rows, capacity or max_rows)
    rows = _claim(broadcast_id, first_id, last_id, now, limit)
    window_start = now - timedelta(hours=24)
    stop = Event()
    limiter = rate_limiter()

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
        limiter.acquire()
        result = backend.send(message)
        if result.error and result.error.kind == gateway.ErrorKind.FATAL:
            stop.set()
        elif result.error and result.error.kind == gateway.ErrorKind.RATE_LIMITED:
            limiter.slow_down(settings.BROADCAST_RATE_LIMITED_PAUSE_SECONDS)
        return result

    results: list[gateway.SendResult | None] = []
    if rows:
        with gateway.get_backend() as backend:
            workers = min(settings.BROADCAST_SEND_CONCURRENCY, len(rows))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(lambda row: send(backend, row), rows))
    sent, failed, paused = _record_outcomes(broadcast, rows, results)
    if paused:
        return RangeOutcome(sent=sent, failed=failed)
    retry_in = _range_retry_in(broadcast_id, first_id, last_id)
    capacity_bound = capacity is not None and (max_rows is None or capacity <= max_rows)
    if retry_in is not None and capacity_bound and len(rows) == capacity:
        # The messaging limit cut this range short: the rest waits for the window to move.
        retry_in = max(retry_in, settings.BROADCAST_MESSAGING_LIMIT_RETRY_SECONDS)
    if retry_in is None:
        broadcast_complete_if_done(broadcast_id=broadcast_id)
    return RangeOutcome(sent=sent, failed=failed, retry_in=retry_in)


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
    failed: list[tuple[Delivery, gateway.SendError]] = []
    requeue: dict[int, datetime | None] = {}
    fatal: gateway.SendError | None = None
    for delivery, result in zip(rows, results, strict=True):
        if result is None:  # not attempted: a fatal error stopped the batch
            requeue[delivery.pk] = None
        elif result.ok:
            accepted[delivery.pk] = result.message_id or ""
        elif result.error.kind == gateway.ErrorKind.FATAL:
            fatal = result.error
            requeue[delivery.pk] = None
        elif result.error.retryable and delivery.attempts < DELIVERY_MAX_ATTEMPTS:
            requeue[delivery.pk] = now + _backoff(delivery.attempts)
        else:
            failed.append((delivery, result.error))

    with transaction.atomic():
        # In id order, as the status webhooks lock theirs (see _climb).
        _lock_in_id_order([delivery.pk for delivery in rows])
        if accepted:
            # A status webhook may have overtaken us (matched by callback data): only rows
            # still `sending` are moved, and never backwards.
            _update_each(
                {pk: (wamid,) for pk, wamid in accepted.items()},
                columns=(("wamid", "text"),),
                only_sending=True,
                status=DeliveryStatus.SENT,
                sent_at=now,
            )
        for error, pks in _group_errors(failed).items():
            Delivery.objects.filter(pk__in=pks, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.FAILED,
                failed_at=now,
                error_code=error.code,
                error_title=error.title[:300],
                error_retryable=error.retryable,
            )
            _subscribers_note_failure(error, [d.subscriber_id for d in rows if d.pk in pks])
        if requeue:
            # Attempts that never reached Meta are not counted against the row.
            not_attempted = [pk for pk, at in requeue.items() if at is None]
            Delivery.objects.filter(pk__in=not_attempted).update(
                status=DeliveryStatus.QUEUED, next_attempt_at=None, attempts=F("attempts") - 1
            )
            later = {pk: at for pk, at in requeue.items() if at is not None}
            if later:
                _update_each(
                    {pk: (at,) for pk, at in later.items()},
                    columns=(("next_attempt_at", "timestamptz"),),
                    status=DeliveryStatus.QUEUED,
                )
        if fatal is not None:
            reason = f"{fatal.code or ''} {fatal.title}".strip()
            Broadcast.objects.filter(pk=broadcast.pk, status=Status.SENDING).update(
                status=Status.PAUSED, paused_reason=reason[:500]
            )
            _record(broadcast, Action.PAUSED, None, reason)
            logger.error("broadcast %s paused: %s", broadcast.pk, reason)

    return len(accepted), len(failed), fatal is not None


def _update_each(
    values: dict[int, tuple],
    *,
    columns: tuple[tuple[str, str], ...],
    only_sending: bool = False,
    **common: object,
) -> int:
    """Set `columns` to each row's own values (rows by id) and `common` fields to shared ones,
    in one statement. PostgreSQL joins one array per column, so the statement's text and its
    few parameters are the same whatever the batch; elsewhere (SQLite's small installs) one
    UPDATE per row, in the caller's transaction."""
    if not values:
        return 0
    names = [name for name, _sql_type in columns]
    if connection.vendor != "postgresql":
        base = Delivery.objects.filter(status=DeliveryStatus.SENDING) if only_sending else None
        changed = 0
        for pk, row in values.items():
            target = (Delivery.objects.all() if base is None else base).filter(pk=pk)
            changed += target.update(**common, **dict(zip(names, row, strict=True)))
        return changed
    quote = connection.ops.quote_name
    assignments = [f"{quote(name)} = %s" for name in common]
    assignments += [f"{quote(name)} = v.{quote(name)}" for name in names]
    arrays = ", ".join(["%s::bigint[]", *(f"%s::{sql_type}[]" for _n, sql_type in columns)])
    condition = " AND d.status = %s" if only_sending else ""
    per_column = [list(column) for column in zip(*values.values(), strict=True)]
    params: list[object] = [*common.values(), list(values), *per_column]
    if only_sending:
        params.append(DeliveryStatus.SENDING)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} AS d SET {', '.join(assignments)} "  # noqa: S608 - names from the model
            f"FROM unnest({arrays}) AS v(id, {', '.join(quote(n) for n in names)}) "
            f"WHERE d.id = v.id{condition}",
            params,
        )
        return cursor.rowcount


def _lock_in_id_order(pks: list[int]) -> None:
    """Writers that lock several deliveries take them in id order: two of them never wait on
    each other in a circle (a deadlock PostgreSQL would break by failing one)."""
    list(Delivery.objects.select_for_update().filter(pk__in=pks).order_by("pk").values_list("pk"))


def _group_errors(failed: list[tuple[Delivery, gateway.SendError]]) -> dict:
    grouped: dict[gateway.SendError, list[int]] = {}
    for delivery, error in failed:
        grouped.setdefault(error, []).append(delivery.pk)
    return grouped


def _subscribers_note_failure(error: gateway.SendError, subscriber_ids: list[int]) -> None:
    """Meta's answers about a citizen, remembered so we stop knocking on a closed door."""
    now = timezone.now()
    if error.code == 131050:  # the citizen stopped business messages
        Subscriber.objects.filter(pk__in=subscriber_ids).update(messages_stopped_at=now)
    elif error.code == 131026:  # not on WhatsApp, or cannot receive
        Subscriber.objects.filter(pk__in=subscriber_ids).update(
            undeliverable_count=F("undeliverable_count") + 1
        )
        Subscriber.objects.filter(
            pk__in=subscriber_ids,
            undeliverable_count__gte=UNDELIVERABLE_LIMIT,
            status=Subscriber.Status.ACTIVE,
        ).update(status=Subscriber.Status.UNREACHABLE)


def deliveries_requeue_stuck(*, now: datetime | None = None) -> int:
    """The reaper: rows a killed worker left in `sending`, with no sign Meta accepted them."""
    now = now or timezone.now()
    stuck = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=now - STUCK_AFTER, wamid__isnull=True
    )
    broadcast_ids = set(stuck.values_list("broadcast_id", flat=True).distinct())
    count = stuck.update(status=DeliveryStatus.QUEUED, next_attempt_at=None)
    for broadcast_id in broadcast_ids:
        transaction.on_commit(lambda pk=broadcast_id: _enqueue_ranges(pk))
    if count:
        logger.warning("requeued %s deliveries left in 'sending' by a lost worker", count)
    return count


def broadcasts_resume_stalled(*, now: datetime | None = None) -> list[int]:
    """Restart sending broadcasts that stopped moving: their tasks were lost (a Redis restart)
    or, in the embedded mode, there is no broker to run a retry later. Claims make a restart
    harmless: a row is sent at most once whatever runs twice."""
    now = now or timezone.now()
    quiet_since = now - settings.BROADCAST_STALLED_AFTER
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    stalled = []
    for broadcast in Broadcast.objects.filter(status=Status.SENDING, started_at__lt=quiet_since):
        deliveries = Delivery.objects.filter(broadcast=broadcast)
        if deliveries.filter(claimed_at__gte=quiet_since).exists():
            continue
        if deliveries.filter(due, status=DeliveryStatus.QUEUED).exists():
            stalled.append(broadcast.pk)
            _enqueue_ranges(broadcast.pk)
        elif not deliveries.exists():
            broadcast_fan_out(broadcast_id=broadcast.pk)  # the fan-out task itself was lost
        else:
            broadcast_complete_if_done(broadcast_id=broadcast.pk)
    return stalled


# --- Statuses from the webhook ---------------------------------------------------------------

_LADDER = [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ]
_STATUS_TIME_FIELD = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
}
_CLIMB_COLUMNS = (
    ("status", "text"),
    ("wamid", "text"),
    *((field, "timestamptz") for field in _STATUS_TIME_FIELD.values()),
)


# How long the first buffered status waits for others to share its batch.
STATUS_BATCH_SECONDS = 0.25


def deliveries_receive_status_webhooks(*, bodies: list[bytes]) -> None:
    """Verified webhook bodies carrying statuses: buffered for a bulk apply when there is Redis,
    else applied now."""
    if not status_buffer.enabled():
        statuses = [s for body in bodies for s in gateway.parse_webhook(json.loads(body)).statuses]
        deliveries_record_statuses(statuses=statuses)
    elif status_buffer.push(*bodies):
        _apply_buffered_statuses_soon(STATUS_BATCH_SECONDS)


def deliveries_apply_buffered_statuses() -> int | None:
    """Drain the status buffer into the database; returns the webhook bodies read, or None when
    another drain was running (it starts the next one)."""
    read = status_buffer.drain(lambda batch: deliveries_record_statuses(statuses=batch))
    if read is not None and status_buffer.waiting():
        _apply_buffered_statuses_soon(STATUS_BATCH_SECONDS)
    return read


def deliveries_apply_stranded_statuses() -> None:
    """The safety net: statuses left buffered by a drain whose task was lost."""
    if status_buffer.enabled() and status_buffer.stranded():
        _apply_buffered_statuses_soon(0)


def _apply_buffered_statuses_soon(countdown: float) -> None:
    from broadcasts import tasks

    try:
        tasks.deliveries_apply_statuses.apply_async(countdown=countdown)
    except OperationalError:
        # The statuses are safe in the buffer: the periodic sweep starts their drain.
        logger.warning("could not enqueue the status drain; the sweep will start it")


def deliveries_record_statuses(*, statuses: list[gateway.StatusUpdate]) -> int:
    """Move deliveries up the ladder sent → delivered → read, never backwards; `failed` records
    Meta's error. Matched by message id, or else by our callback data (a row whose send was not
    recorded because its worker died). Set-based: a thousand statuses cost a few statements.
    Returns the rows changed."""
    changed = _climb([u for u in statuses if u.status in _LADDER])
    for update in statuses:
        if update.status == DeliveryStatus.FAILED:
            changed += _fail_from_webhook(update)
    return changed


def _match(update: gateway.StatusUpdate) -> Q | None:
    delivery_id = _delivery_id(update.callback_data)
    if delivery_id is not None:
        return Q(wamid=update.message_id) | Q(pk=delivery_id, wamid__isnull=True)
    return Q(wamid=update.message_id)


def _delivery_id(callback_data: str | None) -> int | None:
    if callback_data and callback_data.startswith("d:") and callback_data[2:].isdigit():
        return int(callback_data[2:])
    return None


@dataclass
class _Climb:
    """Where one message got to: its highest step, and when it reached each step."""

    rank: int
    times: dict[str, datetime]
    delivery_id: int | None


def _climbs_by_message(updates: list[gateway.StatusUpdate]) -> dict[str, _Climb]:
    climbs: dict[str, _Climb] = {}
    for update in updates:
        climb = climbs.setdefault(update.message_id, _Climb(-1, {}, None))
        climb.rank = max(climb.rank, _LADDER.index(update.status))
        climb.times[update.status] = update.timestamp
        climb.delivery_id = climb.delivery_id or _delivery_id(update.callback_data)
    for climb in climbs.values():
        # A step Meta skipped (read without delivered) happened by the next one it reported.
        for step in reversed(_LADDER[: climb.rank]):
            climb.times.setdefault(step, climb.times[_LADDER[_LADDER.index(step) + 1]])
    return climbs


def _climb(updates: list[gateway.StatusUpdate]) -> int:
    if not updates:
        return 0
    climbs = _climbs_by_message(updates)
    by_delivery_id = {c.delivery_id: wamid for wamid, c in climbs.items() if c.delivery_id}
    ranks = {DeliveryStatus.QUEUED: -1, DeliveryStatus.SENDING: -1}
    ranks.update({step: rank for rank, step in enumerate(_LADDER)})
    changes: dict[int, tuple] = {}
    reached: list[int] = []
    with transaction.atomic():
        rows = (
            Delivery.objects.select_for_update()
            .filter(Q(wamid__in=climbs) | Q(pk__in=by_delivery_id, wamid__isnull=True))
            .order_by("pk")
            .values_list("pk", "wamid", "status", "subscriber_id", *_STATUS_TIME_FIELD.values())
        )
        for pk, wamid, status, subscriber_id, *times in rows:
            wamid = wamid or by_delivery_id[pk]
            climb = climbs[wamid]
            if ranks.get(status, len(_LADDER)) >= climb.rank:  # already there, or failed
                continue
            new_times = [
                known or climb.times.get(step) for step, known in zip(_LADDER, times, strict=True)
            ]
            changes[pk] = (_LADDER[climb.rank], wamid, *new_times)
            if climb.rank > 0:
                reached.append(subscriber_id)
        _update_each(changes, columns=_CLIMB_COLUMNS)
        # Delivered: the number works again, whatever failed before.
        Subscriber.objects.filter(pk__in=reached, undeliverable_count__gt=0).update(
            undeliverable_count=0
        )
    return len(changes)


def _fail_from_webhook(update: gateway.StatusUpdate) -> int:
    error = update.errors[0] if update.errors else gateway.StatusError(None, "failed")
    rows = Delivery.objects.filter(
        _match(update), status__in=[DeliveryStatus.SENDING, DeliveryStatus.SENT]
    )
    subscriber_ids = list(rows.values_list("subscriber_id", flat=True))
    changed = rows.update(
        status=DeliveryStatus.FAILED,
        wamid=update.message_id,
        failed_at=update.timestamp,
        error_code=error.code,
        error_title=error.title[:300],
        error_retryable=False,
    )
    if changed:
        kind = gateway.classify_error(error.code, None)
        _subscribers_note_failure(
            gateway.SendError(kind=kind, code=error.code, title=error.title), subscriber_ids
        )
    return changed
