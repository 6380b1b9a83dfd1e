"""Retention and erasure: personal data is kept only as long as the settings say.

Three kinds of data expire: inbound messages (RETENTION_INBOUND_DAYS after they arrived), the
per-recipient delivery rows of a finished broadcast (RETENTION_DELIVERY_DAYS after it finished;
the broadcast keeps its counts per status in `archived_counts`) and the number of a citizen who
unsubscribed (RETENTION_UNSUBSCRIBED_DAYS after they left: the row keeps only a keyed hash of it,
so that the consent records, never edited nor deleted, stay attached and verifiable).

`retention_plan` says what is past its time, `retention_apply` erases exactly that: a dry run and
the real run that follows it agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.crypto import salted_hmac

from broadcasts.models import Broadcast, Delivery
from subscribers.models import ConsentRecord, InboundMessage, Subscriber
from subscribers.services import Outcome, subscriber_unsubscribe

logger = logging.getLogger(__name__)

_PSEUDONYM_SALT = "subscribers.retention.pseudonym"
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


@dataclass(frozen=True)
class Erasure:
    """What erasing one number did."""

    subscriber_id: int | None  # None: no subscriber had that number
    consent_withdrawn: bool
    inbound_deleted: int
    deliveries_deleted: int


def subscriber_pseudonym(*, address: str) -> str:
    """A keyed hash of a number (or WhatsApp user id): the same address always gives the same
    pseudonym, which nobody can reverse or recompute without the installation's SECRET_KEY."""
    return salted_hmac(_PSEUDONYM_SALT, address, algorithm="sha256").hexdigest()


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
                _subscriber_pseudonymise(subscriber=subscriber)
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
        archived = dict(broadcast.archived_counts or {})
        for row in rows.values("status").annotate(n=Count("id")).order_by():
            archived[row["status"]] = archived.get(row["status"], 0) + row["n"]
        broadcast.archived_counts = archived
        broadcast.save(update_fields=["archived_counts"])
        deleted, _ = rows.delete()
        return deleted


def _messages_of(subscriber: Subscriber) -> Q:
    """The inbound messages a citizen sent: linked to their row, or from their address."""
    messages = Q(subscriber=subscriber)
    if subscriber.phone:
        messages |= Q(phone=subscriber.phone)
    if subscriber.wa_user_id:
        messages |= Q(wa_user_id=subscriber.wa_user_id)
    return messages


def _subscriber_pseudonymise(*, subscriber: Subscriber) -> None:
    """Replace a citizen's number and user id with a keyed hash, and clear them from their
    inbound messages. Their consent records are untouched: they point at the row, not the
    number. Expects the row locked."""
    InboundMessage.objects.filter(_messages_of(subscriber)).update(phone=None, wa_user_id=None)
    address = subscriber.phone or f"wa:{subscriber.wa_user_id}"
    subscriber.pseudonym = subscriber_pseudonym(address=address)
    subscriber.phone = subscriber.wa_user_id = None
    subscriber.save(update_fields=["pseudonym", "phone", "wa_user_id"])


def subscriber_erase(*, phone: str, actor: AbstractBaseUser, reference: str = "") -> Erasure:
    """Erase one number at the citizen's request, at once.

    An active subscription is withdrawn first (a `withdrawn` record on the admin channel, naming
    who erased and the request's reference); then the number's inbound messages and the
    subscriber's delivery rows are deleted and the number pseudonymised. `phone` is E.164. Runs
    in one transaction and locks the subscriber's row.
    """
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().filter(phone=phone).first()
        withdrawn = False
        if subscriber is not None and subscriber.is_subscribed:
            now = timezone.now()
            _, outcome = subscriber_unsubscribe(
                phone=phone,
                # Never older than the citizen's own newest keyword, which would make it stale.
                occurred_at=max(now, subscriber.keyword_at or now),
                channel=ConsentRecord.Channel.ADMIN,
                evidence={
                    "erased_by": {"id": actor.pk, "username": actor.get_username()},
                    "reference": reference,
                },
            )
            withdrawn = outcome == Outcome.CHANGED
        their_messages = Q(phone=phone)
        deliveries_deleted = 0
        if subscriber is not None:
            their_messages |= _messages_of(subscriber)
            deliveries_deleted, _ = Delivery.objects.filter(subscriber=subscriber).delete()
        inbound_deleted, _ = InboundMessage.objects.filter(their_messages).delete()
        if subscriber is not None:
            _subscriber_pseudonymise(subscriber=subscriber)
    logger.info(
        "erasure by user %s: subscriber %s, %s inbound messages, %s delivery rows",
        actor.pk,
        subscriber.pk if subscriber else None,
        inbound_deleted,
        deliveries_deleted,
    )
    return Erasure(
        subscriber_id=subscriber.pk if subscriber else None,
        consent_withdrawn=withdrawn,
        inbound_deleted=inbound_deleted,
        deliveries_deleted=deliveries_deleted,
    )
