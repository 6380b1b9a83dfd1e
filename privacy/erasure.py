"""Erasing one citizen's number at their request (GDPR art. 17), at once: the subscription
withdrawn and recorded, their messages and delivery rows deleted (each broadcast keeping its
figures, as retention does), the number pseudonymised."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from broadcasts.models import Broadcast, Delivery
from privacy.models import ErasureTombstone
from privacy.retention import deliveries_archive
from subscribers.models import ConsentRecord, InboundMessage, Subscriber
from subscribers.services.consent import Outcome, subscriber_unsubscribe
from subscribers.services.pseudonyms import (
    inbound_messages_of,
    subscriber_pseudonym,
    subscriber_pseudonymise,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Erasure:
    """What erasing one number did."""

    subscriber_id: int | None  # None: no subscriber had that number
    consent_withdrawn: bool
    inbound_deleted: int
    deliveries_deleted: int


def _deliveries_erase(*, subscriber: Subscriber) -> int:
    theirs = Delivery.objects.filter(subscriber=subscriber)
    broadcast_ids = theirs.values_list("broadcast_id", flat=True).distinct().order_by()
    locked = Broadcast.objects.select_for_update().filter(pk__in=list(broadcast_ids)).order_by("pk")
    deleted = 0
    for broadcast in locked:
        rows = theirs.filter(broadcast=broadcast)
        dropped, _ = rows.filter(status=Delivery.Status.QUEUED).delete()
        deleted += dropped + deliveries_archive(broadcast=broadcast, rows=rows)
    return deleted


def subscriber_erase(*, phone: str, actor: User, reference: str = "") -> Erasure:
    """Erase one number at the citizen's request, at once.

    An active subscription is withdrawn first (a `withdrawn` record on the admin channel, naming
    who erased and the request's reference); then the number's inbound messages and the
    subscriber's delivery rows are deleted, the number pseudonymised and a tombstone left, so
    that a redelivered old message cannot subscribe them again. A delivery row leaves its
    outcome in its broadcast's `archived_counts` (retention's own mechanism), so "reached 8"
    stays 8; a row still queued is dropped, since it never reached them. `phone` is E.164.
    Runs in one transaction and locks the subscriber's row, then their broadcasts' rows in id
    order (as cancelling and retention do: the broadcast before its deliveries).
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
            their_messages |= inbound_messages_of(subscriber)
            deliveries_deleted = _deliveries_erase(subscriber=subscriber)
        inbound_deleted, _ = InboundMessage.objects.filter(their_messages).delete()
        addresses = {phone}
        if subscriber is not None:
            if subscriber.wa_user_id:
                addresses.add(f"wa:{subscriber.wa_user_id}")
            subscriber_pseudonymise(subscriber=subscriber)
        erased_at = timezone.now()
        ErasureTombstone.objects.bulk_create(
            ErasureTombstone(pseudonym=subscriber_pseudonym(address=address), erased_at=erased_at)
            for address in sorted(addresses)
        )
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
