"""Meta's delivery statuses applied to deliveries: sent ▶ delivered ▶ read, never backwards, and
`failed` with Meta's error. Set-based: a thousand statuses cost a few statements.

A failure Meta reports later means what it means in a send's answer (`services.sending`): a
refused template pauses the broadcast and the row waits for the resume; the marketing cap makes
the row wait a day, a bounded number of times. Meta failed that message, so sending the row
again cannot deliver it twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

import gateway
from broadcasts import lifecycle, sql
from broadcasts.models import Broadcast, Delivery
from broadcasts.services.sending import delivery_may_wait, template_refusal_reason
from subscribers.services.delivery import subscribers_note_reached, subscribers_note_send_failure

logger = logging.getLogger(__name__)

DeliveryStatus = Delivery.Status

_LADDER: list[str] = [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ]
_STATUS_TIME_FIELD = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
}
_UNCONFIRMED = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)
# A queued row that Meta's statuses still name is one whose message Meta failed and that waits
# to go again: a late step of that message changes nothing.
_CLIMBS = (DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)
_CLIMB_COLUMNS = (
    ("status", "text"),
    ("wamid", "text"),
    *((field, "timestamptz") for field in _STATUS_TIME_FIELD.values()),
)


def deliveries_apply_statuses(*, statuses: list[gateway.StatusUpdate]) -> int:
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
    """Our `d:<id>` back from Meta: ASCII digits of a 64-bit id, or no id ("²" and "٣" are
    digits to `str.isdigit`, and a longer number fits no row)."""
    if not callback_data or not callback_data.startswith("d:"):
        return None
    digits = callback_data[2:]
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        return int(digits)
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
    # Rows Meta has not confirmed yet climb from the bottom, an `unknown` one included: its
    # status is the proof that Meta accepted it.
    ranks: dict[str, int] = dict.fromkeys(_CLIMBS, -1)
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
        sql.deliveries_update_each(changes, columns=_CLIMB_COLUMNS)
        subscribers_note_reached(subscriber_ids=reached)
    return len(changes)


def _fail_from_webhook(update: gateway.StatusUpdate) -> int:
    error = update.errors[0] if update.errors else gateway.StatusError(None, "failed")
    kind = gateway.classify_error(error.code)
    rows = Delivery.objects.filter(_match(update), status__in=[*_UNCONFIRMED, DeliveryStatus.SENT])
    if kind not in (gateway.ErrorKind.TEMPLATE, gateway.ErrorKind.DEFERRED):
        return _fail(update, error, rows, retryable=False)
    # Rows of a broadcast that still sends, or may again (a cancelled one's end here).
    going = rows.filter(broadcast__status__in=_SENDS_AGAIN)
    if kind == gateway.ErrorKind.TEMPLATE:
        again = list(going.values_list("pk", flat=True))
        due = None  # after the resume
    else:
        # A redelivered failure sets the same time again; the attempts are the row's sends,
        # which no webhook changes.
        again = [
            pk for pk, n in going.values_list("pk", "attempts") if delivery_may_wait(attempts=n)
        ]
        due = update.timestamp + timedelta(seconds=gateway.retry_after(error.code) or 0)
    changed = _queue_again(update, error, again, due=due, kind=kind) if again else 0
    return changed + _fail(update, error, rows.exclude(pk__in=again), retryable=True)


# Broadcasts whose rows Meta's statuses may queue again.
_SENDS_AGAIN = (Broadcast.Status.SENDING, Broadcast.Status.PAUSED, Broadcast.Status.SENT)


def _queue_again(
    update: gateway.StatusUpdate,
    error: gateway.StatusError,
    pks: list[int],
    *,
    due: datetime | None,
    kind: gateway.ErrorKind,
) -> int:
    """Meta failed these rows' messages, to be sent again at `due` (None: at once, after the
    resume). Their broadcast sends again if it had finished, and pauses, saying why, when the
    template was refused (once: a paused one stays as it is)."""
    changed = Delivery.objects.filter(pk__in=pks).update(
        status=DeliveryStatus.QUEUED,
        wamid=update.message_id,
        next_attempt_at=due,
        attempted_at=None,
        error_code=error.code,
        error_title=error.title[:300],
        error_retryable=True,
    )
    broadcast_ids = set(Delivery.objects.filter(pk__in=pks).values_list("broadcast_id", flat=True))
    refused = gateway.SendError(kind, error.code, error.title)
    for broadcast in Broadcast.objects.filter(pk__in=broadcast_ids).select_related("template"):
        note = f"{error.code or ''} {error.title}".strip()
        lifecycle.broadcast_reopen(broadcast_id=broadcast.pk, note=note)
        if kind == gateway.ErrorKind.TEMPLATE:
            reason = template_refusal_reason(broadcast=broadcast, error=refused)
            if lifecycle.broadcast_pause_on_fault(broadcast_id=broadcast.pk, reason=reason):
                logger.error("broadcast %s paused: %s", broadcast.pk, reason)
    return changed


def _fail(
    update: gateway.StatusUpdate, error: gateway.StatusError, rows, *, retryable: bool
) -> int:
    subscriber_ids = list(rows.values_list("subscriber_id", flat=True))
    changed = rows.update(
        status=DeliveryStatus.FAILED,
        wamid=update.message_id,
        failed_at=update.timestamp,
        error_code=error.code,
        error_title=error.title[:300],
        error_retryable=retryable,
    )
    if changed:
        subscribers_note_send_failure(
            condition=gateway.recipient_condition(error.code),
            subscriber_ids=subscriber_ids,
            at=update.timestamp,
        )
    return changed
