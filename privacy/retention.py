"""Retention and erasure: personal data is kept only as long as the settings say.

Three kinds of data expire: inbound messages (RETENTION_INBOUND_DAYS after they arrived), the
per-recipient delivery rows of a finished broadcast (RETENTION_DELIVERY_DAYS after it finished;
the broadcast keeps its counts per status in `archived_counts`) and the number of a citizen who
unsubscribed (RETENTION_UNSUBSCRIBED_DAYS after they left: the row keeps only a keyed hash of it,
so that the consent records, never edited nor deleted, stay attached and verifiable).

`retention_plan` says what is past its time, `retention_apply` erases exactly that: a dry run and
the real run that follows it agree. Erasing one number on request is `privacy.erasure`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import Coalesce

from broadcasts.models import Broadcast, Delivery
from subscribers.models import InboundMessage, Subscriber
from subscribers.services.pseudonyms import subscriber_pseudonymise

logger = logging.getLogger(__name__)

_FINISHED = (Broadcast.Status.SENT, Broadcast.Status.CANCELLED)


@dataclass(frozen=True)
class IdRange:
    """Rows selected by a cutoff: how many, and the ids they span."""

    count: int
    first_id: int | None = None
    last_id: int | None = None


@dataclass(frozen=True)
class BroadcastRows:
    broadcast_id: int
    rows: IdRange


@dataclass(frozen=True)
class RetentionPlan:
    """What is past its time at one moment."""

    inbound_before: datetime
    inbound: IdRange
    deliveries_before: datetime
    deliveries: tuple[BroadcastRows, ...]
    unsubscribed_before: datetime
    subscriber_ids: tuple[int, ...]

    @property
    def delivery_count(self) -> int:
        return sum(item.rows.count for item in self.deliveries)

    @property
    def is_empty(self) -> bool:
        return not (self.inbound.count or self.deliveries or self.subscriber_ids)


@dataclass(frozen=True)
class RetentionResult:
    inbound_deleted: int
    deliveries_deleted: int
    subscriber_ids: tuple[int, ...]  # pseudonymised


def _expired_unsubscribed(*, before: datetime) -> QuerySet[Subscriber]:
    """Citizens who left before `before` and still have a number or user id.

    A Cancellami from an unknown number leaves a row without unsubscribed_at: its keyword time
    (or creation) counts instead.
    """
    return (
        Subscriber.objects.filter(status=Subscriber.Status.UNSUBSCRIBED)
        .filter(Q(phone__isnull=False) | Q(wa_user_id__isnull=False))
        .alias(left_at=Coalesce("unsubscribed_at", "keyword_at", "created_at"))
        .filter(left_at__lt=before)
    )


def _id_range(queryset: QuerySet) -> IdRange:
    found = queryset.aggregate(count=Count("id"), first_id=Min("id"), last_id=Max("id"))
    return IdRange(**found)


def retention_plan(*, now: datetime) -> RetentionPlan:
    """What the retention settings erase at `now`: three queries, nothing written."""
    inbound_before = now - timedelta(days=settings.RETENTION_INBOUND_DAYS)
    deliveries_before = now - timedelta(days=settings.RETENTION_DELIVERY_DAYS)
    unsubscribed_before = now - timedelta(days=settings.RETENTION_UNSUBSCRIBED_DAYS)
    per_broadcast = (
        Delivery.objects.filter(
            broadcast__status__in=_FINISHED, broadcast__finished_at__lt=deliveries_before
        )
        .values("broadcast_id")
        .annotate(count=Count("id"), first_id=Min("id"), last_id=Max("id"))
        .order_by("broadcast_id")
    )
    return RetentionPlan(
        inbound_before=inbound_before,
        inbound=_id_range(InboundMessage.objects.filter(received_at__lt=inbound_before)),
        deliveries_before=deliveries_before,
        deliveries=tuple(
            BroadcastRows(
                broadcast_id=row["broadcast_id"],
                rows=IdRange(row["count"], row["first_id"], row["last_id"]),
            )
            for row in per_broadcast
        ),
        unsubscribed_before=unsubscribed_before,
        subscriber_ids=tuple(
            _expired_unsubscribed(before=unsubscribed_before)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
    )


def retention_apply(*, plan: RetentionPlan) -> RetentionResult:
    """Erase what the plan lists, and nothing else.

    Each kind is bounded by the plan's cutoff and ids, so rows that arrived since are untouched;
    a row that changed since (a citizen who subscribed again, a broadcast whose failures are
    being retried) is left alone. One short transaction per broadcast and per subscriber.
    """
    inbound_deleted = 0
    if plan.inbound.count:
        inbound_deleted, _ = InboundMessage.objects.filter(
            received_at__lt=plan.inbound_before,
            id__range=(plan.inbound.first_id, plan.inbound.last_id),
        ).delete()
    deliveries_deleted = sum(
        _broadcast_archive_rows(item=item, before=plan.deliveries_before)
        for item in plan.deliveries
    )
    pseudonymised = []
    for subscriber_id in plan.subscriber_ids:
        with transaction.atomic():
            subscriber = (
                _expired_unsubscribed(before=plan.unsubscribed_before)
                .select_for_update()
                .filter(pk=subscriber_id)
                .first()
            )
            if subscriber is not None:
                subscriber_pseudonymise(subscriber=subscriber)
                pseudonymised.append(subscriber_id)
    logger.info(
        "retention: %s inbound messages and %s delivery rows deleted, %s subscribers pseudonymised",
        inbound_deleted,
        deliveries_deleted,
        len(pseudonymised),
    )
    return RetentionResult(
        inbound_deleted=inbound_deleted,
        deliveries_deleted=deliveries_deleted,
        subscriber_ids=tuple(pseudonymised),
    )


def _broadcast_archive_rows(*, item: BroadcastRows, before: datetime) -> int:
    """Add a finished broadcast's rows to its archived counts (per delivery status) and delete
    them; returns how many. Locks the broadcast, so no retry can start meanwhile."""
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update()
            .filter(pk=item.broadcast_id, status__in=_FINISHED, finished_at__lt=before)
            .first()
        )
        if broadcast is None:
            return 0
        rows = Delivery.objects.filter(
            broadcast=broadcast, id__range=(item.rows.first_id, item.rows.last_id)
        )
        return deliveries_archive(broadcast=broadcast, rows=rows)


# A row in flight when it is archived may have reached its citizen: it counts as unknown.
_ARCHIVED_AS: dict[str, str] = {Delivery.Status.SENDING: Delivery.Status.UNKNOWN}


def deliveries_archive(*, broadcast: Broadcast, rows: QuerySet[Delivery]) -> int:
    """Move `rows` (the broadcast's own) into the broadcast's counts per delivery status and
    delete them; returns how many. The broadcast's figures (its page, the list, the dashboard)
    stay what they were. The caller holds the broadcast's row lock, in a transaction."""
    archived = dict(broadcast.archived_counts or {})
    for row in rows.values("status").annotate(n=Count("id")).order_by():
        status = _ARCHIVED_AS.get(row["status"], row["status"])
        archived[status] = archived.get(status, 0) + row["n"]
    broadcast.archived_counts = archived
    broadcast.save(update_fields=["archived_counts"])
    deleted, _ = rows.delete()
    return deleted
