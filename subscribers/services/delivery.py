"""What WhatsApp tells us about a citizen's number, remembered so that we stop knocking on a
closed door and open it again when a message gets through: answers to our sends (in the
gateway's terms, `gateway.RecipientCondition`), and the citizen's own choice about marketing
messages."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import F, Q
from django.utils import timezone

import gateway
from subscribers import selectors
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)

# "Not on WhatsApp, or cannot receive" this many times: the number is unreachable.
UNDELIVERABLE_LIMIT = 3


def subscribers_note_send_failure(
    *,
    condition: gateway.RecipientCondition | None,
    subscriber_ids: list[int],
    at: datetime | None = None,
) -> None:
    """A send to these citizens failed in a way that says something about their number (`at`:
    when WhatsApp said so, now if not given)."""
    if condition == gateway.RecipientCondition.MARKETING_STOPPED:
        _marketing_choose(Q(pk__in=subscriber_ids), stopped=True, at=at or timezone.now())
    elif condition == gateway.RecipientCondition.UNDELIVERABLE:
        Subscriber.objects.filter(pk__in=subscriber_ids).update(
            undeliverable_count=F("undeliverable_count") + 1
        )
        Subscriber.objects.filter(
            pk__in=subscriber_ids,
            undeliverable_count__gte=UNDELIVERABLE_LIMIT,
            status=Subscriber.Status.ACTIVE,
        ).update(status=Subscriber.Status.UNREACHABLE)


def subscribers_note_reached(*, subscriber_ids: list[int]) -> None:
    """A message was delivered: the number works again, whatever failed before."""
    Subscriber.objects.filter(pk__in=subscriber_ids, undeliverable_count__gt=0).update(
        undeliverable_count=0
    )


def subscriber_marketing_preference_record(*, preference: gateway.MarketingPreference) -> bool:
    """A citizen told WhatsApp to stop, or to resume, marketing messages from us: marketing
    templates are skipped for them from a stop until a resume. A choice older than the newest
    one recorded (a webhook redelivered late) changes nothing, nor does one from a number we do
    not know. Returns whether the subscriber changed."""
    subscriber = selectors.subscriber_find(phone=preference.phone, wa_user_id=preference.user_id)
    if subscriber is None:
        logger.debug("marketing preference ignored: not a subscriber")
        return False
    changed = _marketing_choose(
        Q(pk=subscriber.pk), stopped=preference.stopped, at=preference.timestamp
    )
    if changed:
        logger.info(
            "subscriber %s %s marketing messages",
            subscriber.pk,
            "stopped" if preference.stopped else "resumed",
        )
    return bool(changed)


def _marketing_choose(which: Q, *, stopped: bool, at: datetime) -> int:
    """Record a stop or a resume made at `at`, unless a newer choice is recorded already."""
    newer_known = Q(marketing_preference_at__gte=at)
    return (
        Subscriber.objects.filter(which)
        .exclude(newer_known)
        .update(marketing_stopped_at=at if stopped else None, marketing_preference_at=at)
    )
