"""Meta's delivery statuses applied to deliveries: sent ▶ delivered ▶ read, never backwards, and
`failed` with Meta's error. Set-based: a thousand statuses cost a few statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

import gateway
from broadcasts import sql
from broadcasts.models import Delivery
from subscribers.services.delivery import subscribers_note_reached, subscribers_note_send_failure

DeliveryStatus = Delivery.Status

_LADDER: list[str] = [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ]
_STATUS_TIME_FIELD = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
}
_UNCONFIRMED = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)
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
    ranks: dict[str, int] = dict.fromkeys(_UNCONFIRMED, -1)
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
    rows = Delivery.objects.filter(_match(update), status__in=[*_UNCONFIRMED, DeliveryStatus.SENT])
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
        subscribers_note_send_failure(error_code=error.code, subscriber_ids=subscriber_ids)
    return changed
