"""Sending a broadcast's queued rows: claimed atomically, sent concurrently over one pooled
connection (each send takes a slot of the number's rate limit in the gateway), outcomes written
back in bulk.

What Meta's errors mean is decided in the gateway (`gateway.ErrorKind`); here each kind has its
consequence: a broken sender or a refused template pauses the broadcast at the first answer and
leaves the rows not yet sent queued for the resume; a citizen Meta asks us to try later waits
(`SendError.retry_after`: seconds for the pair limit, a day for the marketing cap, a bounded
number of times); free text refused for a WhatsApp user id goes again as the template.

A row is sent at most once. Each row is marked `attempted_at` in the database right before its
request leaves (the marks of all send threads written together), so whatever fails — the rate
limiter, the broker, the database, the worker itself — a row is only ever sent again when it is
known never to have reached Meta: it was never marked, or Meta answered with an error. A row
whose request may have reached Meta and whose answer was lost ends `unknown`, for its status
webhook (our callback data) to settle, and for staff to see if none comes.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
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
) -> gateway.Message | None:
    """What a citizen receives (invariant 7), emergencies included: inside their 24-hour window
    the text (the template when there is no text), outside it the template; None when nothing
    may go: outside the window with no template, or of a broadcast approved for those inside
    their window only."""
    template = broadcast.template
    if window_open and (broadcast.body or template is None):
        return gateway.TextMessage(to=to, body=broadcast.body, callback_data=callback_data)
    if not window_open and broadcast.audience == Broadcast.Audience.WINDOW_ONLY:
        return None
    return broadcast_template_message(broadcast=broadcast, to=to, callback_data=callback_data)


def broadcast_template_message(
    *, broadcast: Broadcast, to: str, callback_data: str | None
) -> gateway.TemplateMessage | None:
    """The broadcast's template for one citizen, whatever their window; None without one."""
    template = broadcast.template
    if template is None:
        return None
    return gateway.TemplateMessage(
        to=to,
        name=template.name,
        language=template.language,
        body_parameters=tuple(broadcast.template_parameters),
        callback_data=callback_data,
        body_text=template.body,
    )


def delivery_may_wait(*, attempts: int) -> bool:
    """Whether a row Meta asked to wait (its marketing cap) is tried again: a row is sent
    BROADCAST_MARKETING_LIMIT_RETRIES more times than once, in all its attempts."""
    return attempts <= settings.BROADCAST_MARKETING_LIMIT_RETRIES


def template_refusal_reason(*, broadcast: Broadcast, error: gateway.SendError) -> str:
    """What staff read on a broadcast paused because Meta refused its template."""
    template = broadcast.template.name if broadcast.template else ""
    return _(
        "WhatsApp refused the template “%(template)s” (%(error)s). The citizens not reached yet "
        "wait: fix the template with Meta, synchronise the templates, then resume; or cancel."
    ) % {"template": template, "error": f"{error.code or ''} {error.title}".strip()}


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
    claimed = _claim(broadcast_id, first_id, last_id, now, limit)
    messages = _messages_or_skipped(broadcast, claimed, now=now)
    rows = [row for row in claimed if row.pk in messages]
    results = _send(rows, messages, claimed_at=now, fallback=_template_fallback(broadcast, rows))
    outcome = _written_despite_outages(lambda: _record_outcomes(broadcast, rows, results))
    if outcome.paused:
        return RangeOutcome(sent=outcome.sent, failed=outcome.failed)
    if outcome.sender_down:
        # The rate limiter (Redis) or the database could not be reached: what was not sent is
        # queued again, for a later run.
        return RangeOutcome(
            sent=outcome.sent, failed=outcome.failed, retry_in=SENDER_DOWN_RETRY_SECONDS
        )
    retry_in = _range_retry_in(broadcast_id, first_id, last_id)
    capacity_bound = capacity is not None and (max_rows is None or capacity <= max_rows)
    if retry_in is not None and capacity_bound and len(claimed) == capacity:
        # The messaging limit cut this range short: the rest waits for the window to move.
        retry_in = max(retry_in, settings.BROADCAST_MESSAGING_LIMIT_RETRY_SECONDS)
    if retry_in is None:
        lifecycle.broadcast_complete(broadcast_id=broadcast_id)
        return RangeOutcome(sent=outcome.sent, failed=outcome.failed)
    return RangeOutcome(
        sent=outcome.sent, failed=outcome.failed, retry_in=min(retry_in, RANGE_RETRY_MAX_SECONDS)
    )


# After the rate limiter failed, the range runs again this much later (the sweep starts it if
# the broker, down too, lost the retry).
SENDER_DOWN_RETRY_SECONDS = 5.0
# The longest a range waits for its next due row in one go. Redis hands a task whose countdown
# outlasts the broker's visibility timeout (an hour) to another worker again and again; a range
# waiting a day for a deferred row wakes up every half hour instead, finds nothing due, and
# waits again (the stall sweep also starts it once the row is due).
RANGE_RETRY_MAX_SECONDS = 1800.0


def _message_for(broadcast: Broadcast, delivery: Delivery, now: datetime) -> gateway.Message | None:
    """The message of one row, its citizen's window decided now, as it is sent."""
    subscriber = delivery.subscriber
    return broadcast_message(
        broadcast=broadcast,
        to=subscriber.address,
        callback_data=f"d:{delivery.pk}",
        window_open=gateway.window_open(subscriber.last_inbound_at, now),
    )


def _template_fallback(
    broadcast: Broadcast, rows: list[Delivery]
) -> Callable[[int], gateway.Message | None]:
    """The template each row goes as when Meta refuses its free text for the citizen's user id
    (131062), by row id; None when the broadcast has none, or the citizen stopped marketing
    messages and the template is marketing."""
    by_id = {row.pk: row for row in rows}

    def fallback(delivery_id: int) -> gateway.Message | None:
        subscriber = by_id[delivery_id].subscriber
        if _marketing_refused(broadcast, subscriber):
            return None
        return broadcast_template_message(
            broadcast=broadcast, to=subscriber.address, callback_data=f"d:{delivery_id}"
        )

    return fallback


def _marketing_refused(broadcast: Broadcast, subscriber: Subscriber) -> bool:
    template = broadcast.template
    return template is not None and template.is_marketing and subscriber.stopped_marketing


def _messages_or_skipped(
    broadcast: Broadcast, rows: list[Delivery], *, now: datetime
) -> dict[int, gateway.Message]:
    """Each claimed row's message, by row id; the rows nothing may go to end as `skipped`,
    saying why: outside the window with no template that may reach them, or a marketing
    template for a citizen who stopped marketing messages."""
    messages: dict[int, gateway.Message] = {}
    skipped: dict[str, list[int]] = {}
    outside_window = (
        _("Outside the 24-hour window: only those inside it get this broadcast")
        if broadcast.audience == Broadcast.Audience.WINDOW_ONLY
        else _("Outside the 24-hour window, and the broadcast has no template")
    )
    for row in rows:
        message = _message_for(broadcast, row, now)
        if message is None:
            skipped.setdefault(outside_window, []).append(row.pk)
        elif isinstance(message, gateway.TemplateMessage) and _marketing_refused(
            broadcast, row.subscriber
        ):
            reason = _("The citizen stopped marketing messages on WhatsApp")
            skipped.setdefault(reason, []).append(row.pk)
        else:
            messages[row.pk] = message
    for reason, pks in skipped.items():
        Delivery.objects.filter(pk__in=pks, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.SKIPPED,
            error_title=reason,
            error_retryable=False,
            attempts=F("attempts") - 1,
        )
    return messages


def _send(
    rows: list[Delivery],
    messages: dict[int, gateway.Message],
    *,
    claimed_at: datetime,
    fallback: Callable[[int], gateway.Message | None],
) -> list[gateway.SendResult | None]:
    """One result per row, None for rows not attempted because an answer stopped the batch.

    Free text Meta refuses for the citizen's user id (NEEDS_TEMPLATE) goes again at once as
    `fallback`'s template, if there is one: Meta refused the first, so only one can arrive. The
    row's mark stands for both requests.

    The send threads never raise: an unexpected error comes back as a result saying whether the
    row's request may have left (`UNKNOWN`) or not (`NOT_SENT`), so that every outcome is
    written."""
    if not rows:
        return []
    stop = threading.Event()
    attempts = _AttemptLog(claimed_at)

    def send(backend: gateway.BaseBackend, delivery: Delivery) -> gateway.SendResult | None:
        if stop.is_set():
            return None
        message = messages[delivery.pk]
        try:
            result = backend.send(
                message, before_request=lambda: attempts.mark(delivery.pk), bulk=True
            )
            if _needs_template(result) and (template := fallback(delivery.pk)) is not None:
                result = backend.send(template, bulk=True)
        except Exception as exc:
            logger.exception("sending delivery %s raised", delivery.pk)
            kind = gateway.ErrorKind.UNKNOWN if attempts.marked(delivery.pk) else None
            kind = kind or gateway.ErrorKind.NOT_SENT
            result = gateway.SendResult(message, error=gateway.SendError(kind, None, repr(exc)))
        if result.error and (
            result.error.stops_broadcast or result.error.kind == gateway.ErrorKind.NOT_SENT
        ):
            stop.set()  # the sender is broken, the template refused, or no slot can be had
        return result

    with gateway.get_backend() as backend:
        workers = min(settings.BROADCAST_SEND_CONCURRENCY, len(rows))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(send, backend, row) for row in rows]
            attempts.serve_until_done(futures)
            return [future.result() for future in futures]


def _needs_template(result: gateway.SendResult) -> bool:
    return (
        result.error is not None
        and result.error.kind == gateway.ErrorKind.NEEDS_TEMPLATE
        and isinstance(result.message, gateway.TextMessage)
    )


@dataclass
class _Ask:
    delivery_id: int
    answered: threading.Event = field(default_factory=threading.Event)
    marked: bool = False


class _AttemptLog:
    """Marks claimed rows `attempted_at` right before each one's request leaves.

    The send threads ask; the thread that owns the task's database connection writes every mark
    waiting in one UPDATE (group commit), committed before any of those requests leaves. A row
    that is no longer ours (the reaper took it back) is not marked, and so not sent.
    """

    def __init__(self, claimed_at: datetime) -> None:
        self._claimed_at = claimed_at
        self._asks: queue.SimpleQueue[_Ask | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._marked: set[int] = set()

    def mark(self, delivery_id: int) -> bool:
        """Called by a send thread; True once the row's mark is committed."""
        if self._closed.is_set():
            return False
        ask = _Ask(delivery_id)
        self._asks.put(ask)
        while not ask.answered.wait(timeout=1.0):
            if self._closed.is_set():  # the writer stopped before this ask reached it
                return False
        return ask.marked

    def marked(self, delivery_id: int) -> bool:
        return delivery_id in self._marked

    def serve_until_done(self, futures: list[Future]) -> None:
        """Write marks as they are asked for until every send has ended."""
        remaining = len(futures)
        lock = threading.Lock()

        def ended(_future: Future) -> None:
            nonlocal remaining
            with lock:
                remaining -= 1
                if remaining == 0:
                    self._asks.put(None)

        for future in futures:
            future.add_done_callback(ended)
        try:
            while (ask := self._asks.get()) is not None:
                batch = [ask]
                while True:
                    try:
                        more = self._asks.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._asks.put(None)  # seen again by the outer loop
                        break
                    batch.append(more)
                self._write(batch)
        finally:
            self._closed.set()
            while True:  # nobody waits for ever, whatever stopped the loop
                try:
                    leftover = self._asks.get_nowait()
                except queue.Empty:
                    break
                if leftover is not None:
                    leftover.answered.set()

    def _write(self, batch: list[_Ask]) -> None:
        try:
            marked = sql.deliveries_mark_attempted(
                ids=[ask.delivery_id for ask in batch], claimed_at=self._claimed_at
            )
        except DatabaseError:
            # The database is down: the rows cannot be marked, so they are not sent.
            logger.warning("could not mark %s deliveries as attempted: not sent", len(batch))
            connection.close_if_unusable_or_obsolete()
            marked = set()
        self._marked |= marked
        for ask in batch:
            ask.marked = ask.delivery_id in marked
            ask.answered.set()


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
        # A citizen who withdrew mid-broadcast gets nothing more.
        rows.exclude(subscriber__status=Subscriber.Status.ACTIVE).update(
            status=DeliveryStatus.FAILED,
            failed_at=now,
            error_title=_("No longer subscribed"),
            error_retryable=False,
        )
        claimable = rows.select_for_update(skip_locked=True).order_by("id")
        ids = list(claimable.values_list("id", flat=True)[:limit])
        Delivery.objects.filter(id__in=ids).update(
            status=DeliveryStatus.SENDING,
            claimed_at=now,
            attempted_at=None,
            attempts=F("attempts") + 1,
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
            "subscriber__marketing_stopped_at",
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


def _wait(error: gateway.SendError, attempts: int) -> timedelta:
    """How long a row waits to be tried again: as long as Meta said, else the backoff."""
    if error.retry_after is not None:
        return timedelta(seconds=error.retry_after)
    return _backoff(attempts)


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


@dataclass(frozen=True)
class _Outcomes:
    sent: int
    failed: int
    paused: bool  # an answer that stops the broadcast (a fatal one, a refused template) paused it
    sender_down: bool  # a send could not leave (no rate-limit slot, no database to mark it)


_T = TypeVar("_T")
# Outages of the database that writing the outcomes waits out: what Meta accepted is known only
# to this process until it is written.
_DATABASE_DOWN = (OperationalError, InterfaceError)


def _written_despite_outages(write: Callable[[], _T]) -> _T:
    """Run `write` (one transaction), again and again while the database is down, for up to
    BROADCAST_OUTCOME_WRITE_SECONDS; then raise, leaving the rows to the reaper."""
    deadline = time.monotonic() + settings.BROADCAST_OUTCOME_WRITE_SECONDS
    pause = 0.5
    while True:
        try:
            return write()
        except _DATABASE_DOWN:
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("the database is down: writing send outcomes again in %.1f s", pause)
            connection.close()  # the next try opens a new connection
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _record_outcomes(
    broadcast: Broadcast, rows: list[Delivery], results: list[gateway.SendResult | None]
) -> _Outcomes:
    """Write the sends' outcomes in one transaction."""
    now = timezone.now()
    accepted: dict[int, str] = {}
    failed: dict[gateway.SendError, list[Delivery]] = {}
    requeue: dict[int, datetime | None] = {}
    # Meta asked these to wait (its marketing cap): until when, and the answer kept to show why.
    waiting: dict[gateway.SendError, dict[int, datetime]] = {}
    unknown: dict[gateway.SendError, list[int]] = {}
    stopped: gateway.SendError | None = None  # the first answer that stops the broadcast
    sender_down = False
    for delivery, result in zip(rows, results, strict=True):
        error = None if result is None else result.error
        if result is None:  # not attempted: an answer stopped the batch
            requeue[delivery.pk] = None
        elif error is None:
            accepted[delivery.pk] = result.message_id or ""
        elif error.kind == gateway.ErrorKind.NOT_SENT:
            sender_down = True
            requeue[delivery.pk] = None
        elif error.kind == gateway.ErrorKind.UNKNOWN:
            unknown.setdefault(error, []).append(delivery.pk)
        elif error.stops_broadcast:
            # Meta refused it, as it would every other: it goes after the resume.
            stopped = stopped or error
            requeue[delivery.pk] = None
        elif error.kind == gateway.ErrorKind.DEFERRED:
            if delivery_may_wait(attempts=delivery.attempts):
                waiting.setdefault(error, {})[delivery.pk] = now + _wait(error, delivery.attempts)
            else:
                failed.setdefault(error, []).append(delivery)
        elif error.retryable and delivery.attempts < DELIVERY_MAX_ATTEMPTS:
            requeue[delivery.pk] = now + _wait(error, delivery.attempts)
        elif error.kind == gateway.ErrorKind.NEEDS_TEMPLATE:
            title = _("Only a template may go to this WhatsApp user, and none could: %s")
            error = dataclasses.replace(error, title=title % error.title)
            failed.setdefault(error, []).append(delivery)
        else:
            failed.setdefault(error, []).append(delivery)

    # The rows this run still holds: `sending`, or `unknown` if the reaper judged them first.
    ours = (DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)
    with transaction.atomic():
        # In id order, as the status webhooks lock theirs.
        sql.deliveries_lock_in_id_order([delivery.pk for delivery in rows])
        if accepted:
            # A status webhook may have overtaken us (matched by callback data): only rows
            # still ours are moved, and never backwards.
            sql.deliveries_update_each(
                {pk: (wamid,) for pk, wamid in accepted.items()},
                columns=(("wamid", "text"),),
                only_from=ours,
                status=DeliveryStatus.SENT,
                sent_at=now,
                error_code=None,  # why it had waited no longer applies
                error_title="",
            )
        for error, deliveries in failed.items():
            Delivery.objects.filter(pk__in=[d.pk for d in deliveries], status__in=ours).update(
                status=DeliveryStatus.FAILED,
                failed_at=now,
                error_code=error.code,
                error_title=error.title[:300],
                error_retryable=error.retryable,
            )
            subscribers_note_send_failure(
                condition=gateway.recipient_condition(error.code),
                subscriber_ids=[d.subscriber_id for d in deliveries],
            )
        for error, due in waiting.items():
            # Meta's answer stays on the queued row, for staff to see why it waits.
            sql.deliveries_update_each(
                {pk: (at,) for pk, at in due.items()},
                columns=(("next_attempt_at", "timestamptz"),),
                only_from=ours,
                status=DeliveryStatus.QUEUED,
                attempted_at=None,
                error_code=error.code,
                error_title=error.title[:300],
                error_retryable=True,
            )
        for error, pks in unknown.items():
            Delivery.objects.filter(pk__in=pks, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.UNKNOWN, error_title=error.title[:300]
            )
        if requeue:
            # Attempts that never reached Meta are not counted against the row.
            not_attempted = [pk for pk, at in requeue.items() if at is None]
            Delivery.objects.filter(pk__in=not_attempted, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.QUEUED,
                next_attempt_at=None,
                attempted_at=None,
                attempts=F("attempts") - 1,
            )
            later = {pk: at for pk, at in requeue.items() if at is not None}
            sql.deliveries_update_each(
                {pk: (at,) for pk, at in later.items()},
                columns=(("next_attempt_at", "timestamptz"),),
                only_from=ours,
                status=DeliveryStatus.QUEUED,
                attempted_at=None,
            )
        if stopped is not None:
            reason = (
                template_refusal_reason(broadcast=broadcast, error=stopped)
                if stopped.kind == gateway.ErrorKind.TEMPLATE
                else f"{stopped.code or ''} {stopped.title}".strip()
            )
            lifecycle.broadcast_pause_on_fault(broadcast_id=broadcast.pk, reason=reason)
            logger.error("broadcast %s paused: %s", broadcast.pk, reason)
    if unknown:
        logger.warning(
            "broadcast %s: %s sends may have reached Meta without an answer (outcome unknown)",
            broadcast.pk,
            sum(len(pks) for pks in unknown.values()),
        )
    return _Outcomes(
        sent=len(accepted),
        failed=sum(len(d) for d in failed.values()),
        paused=stopped is not None,
        sender_down=sender_down,
    )
