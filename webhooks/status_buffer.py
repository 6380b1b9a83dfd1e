"""Status webhooks, stored at once and applied in bulk.

Meta sends about three status webhooks for every message, so an emergency at 1,000 msg/s brings
3,000 POSTs a second. Applying each while Meta waits would make the web tier the bottleneck;
instead the webhook stores the verified body in PostgreSQL (`StatusWebhook`, one INSERT for all
the bodies that arrived together) and answers 200 only once it is committed: a 200 tells Meta it
need not send the body again, so the body must be where no restart can erase it. A task on its
own queue reads many bodies at a time and applies their statuses, deleting the bodies in the
same transaction, so a drain that dies leaves them for the next one.

The push that finds no drain due starts one a moment later (a short-lived key in Redis), so the
bodies arriving meanwhile share its batch; a drain that read less than a full batch stops.
Drains may run side by side: each takes the bodies nobody holds (SKIP LOCKED). Losing Redis
loses no status, only the nudge: the periodic sweep drains whatever waits. Without a broker
(the embedded mode) statuses are applied at once instead.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import timedelta

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from webhooks.models import StatusWebhook

logger = logging.getLogger(__name__)

BATCH = 1000  # webhook bodies per transaction (Meta's carry one status each, mostly)
# A due drain's key lives this long: a drain lost with its task is started again by the next
# push after it, or by the sweep.
DRAIN_DUE_SECONDS = 5
# Bodies waiting longer than this were missed by every drain (their task was lost).
STRANDED_AFTER = timedelta(seconds=5)


@functools.lru_cache(maxsize=8)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def _drain_due_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}infocomune:statuses:drain-due"


def enabled() -> bool:
    """Statuses are stored for a drain when tasks run on a broker."""
    return bool(settings.REDIS_URL)


def push(*bodies: bytes) -> bool:
    """Store verified webhook bodies (one INSERT, committed when this returns); True when no
    drain was due, so the caller must start one: the pushes until it runs join its batch."""
    try:
        with transaction.atomic():
            StatusWebhook.objects.bulk_create([StatusWebhook(body=body) for body in bodies])
    except DatabaseError:
        connection.close()  # a broken connection is not reused by the next push
        raise
    try:
        return bool(
            _client(settings.REDIS_URL).set(_drain_due_key(), 1, nx=True, ex=DRAIN_DUE_SECONDS)
        )
    except redis.RedisError:
        logger.warning("could not start the status drain (Redis): the sweep will")
        return False


def drain(apply: Callable[[list[bytes]], object]) -> int:
    """Hand what is stored to `apply`, a batch of bodies at a time while the batches come full,
    each batch deleted in the transaction that applied it. Returns the bodies applied."""
    # From here, a push starts another drain: nothing it stores can be missed. (Without Redis
    # the key expires by itself.)
    with contextlib.suppress(redis.RedisError):
        _client(settings.REDIS_URL).delete(_drain_due_key())
    done = 0
    while True:
        with transaction.atomic():
            batch = list(
                StatusWebhook.objects.select_for_update(skip_locked=True)
                .order_by("id")
                .values_list("id", "body")[:BATCH]
            )
            if batch:
                apply([bytes(body) for _id, body in batch])
                StatusWebhook.objects.filter(id__in=[pk for pk, _body in batch]).delete()
        done += len(batch)
        if len(batch) < BATCH:
            return done


def waiting() -> bool:
    return StatusWebhook.objects.exists()


def stranded() -> bool:
    """Bodies have waited past any drain's delay: their drain's task was lost."""
    return StatusWebhook.objects.filter(received_at__lt=timezone.now() - STRANDED_AFTER).exists()
