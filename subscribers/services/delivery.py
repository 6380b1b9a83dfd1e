"""What Meta's answers to our sends tell us about a citizen's number, remembered so that we stop
knocking on a closed door and open it again when a message gets through."""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from subscribers.models import Subscriber

# Meta's 131026 (not on WhatsApp, or cannot receive) this many times: the number is unreachable.
UNDELIVERABLE_LIMIT = 3
STOPPED_BUSINESS_MESSAGES = 131050
UNDELIVERABLE = 131026


def subscribers_note_send_failure(*, error_code: int | None, subscriber_ids: list[int]) -> None:
    if error_code == STOPPED_BUSINESS_MESSAGES:  # nothing goes until they write to us
        Subscriber.objects.filter(pk__in=subscriber_ids).update(messages_stopped_at=timezone.now())
    elif error_code == UNDELIVERABLE:
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
