"""Status webhooks, absorbed fast and applied in bulk.

Meta sends about three status webhooks for every message, so an emergency at 1,000 msg/s brings
3,000 POSTs a second. Writing each to the database while Meta waits would make the web tier the
bottleneck; instead the webhook appends the statuses to a Redis list (one round trip) and a task
applies them a batch at a time, one transaction each. Only one drain runs at once (the `draining`
key), so reading the head of the list and trimming it afterwards is safe: a drain that dies
between the two leaves the batch to be applied again, which changes nothing (statuses only
climb). Without Redis (the embedded mode) statuses are applied at once instead.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from django.conf import settings

import gateway

logger = logging.getLogger(__name__)

BATCH = 1000
# A drain that died frees the way for the next one after this long.
DRAINING_TTL_SECONDS = 60


@functools.lru_cache(maxsize=8)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _keys() -> tuple[str, str]:
    prefix = f"{settings.REDIS_KEY_PREFIX}infocomune:statuses"
    return prefix, f"{prefix}:draining"


def enabled() -> bool:
    return bool(settings.REDIS_URL)


def push(statuses: list[gateway.StatusUpdate]) -> bool:
    """Append the statuses; True when no drain is running and the caller must start one."""
    pending, draining = _keys()
    with _client(settings.REDIS_URL).pipeline(transaction=False) as pipe:
        pipe.rpush(pending, *(_encode(s) for s in statuses))
        pipe.set(draining, 1, nx=True, ex=DRAINING_TTL_SECONDS)
        _length, must_start = pipe.execute()
    return bool(must_start)


def drain(apply: Callable[[list[gateway.StatusUpdate]], object]) -> int:
    """Apply what is buffered, a batch at a time, until the list is empty. Returns the count."""
    client = _client(settings.REDIS_URL)
    pending, draining = _keys()
    done = 0
    while True:
        items = client.lrange(pending, 0, BATCH - 1)
        if not items:
            client.delete(draining)
            # A push between our read and the delete saw the flag set and started nobody.
            if client.llen(pending) and client.set(draining, 1, nx=True, ex=DRAINING_TTL_SECONDS):
                continue
            return done
        apply([status for status in map(_decode, items) if status is not None])
        client.ltrim(pending, len(items), -1)
        client.expire(draining, DRAINING_TTL_SECONDS)
        done += len(items)


def needs_drain() -> bool:
    """Statuses are waiting and no drain is running (it died, or its task was lost); claims
    the right to start one."""
    pending, draining = _keys()
    client = _client(settings.REDIS_URL)
    return bool(client.llen(pending)) and bool(
        client.set(draining, 1, nx=True, ex=DRAINING_TTL_SECONDS)
    )


def _encode(status: gateway.StatusUpdate) -> str:
    # The recipient's number is personal data and not needed here: it is not kept.
    return json.dumps(
        [
            status.message_id,
            status.status,
            status.timestamp.timestamp(),
            status.callback_data,
            [[error.code, error.title, error.details] for error in status.errors],
        ],
        separators=(",", ":"),
    )


def _decode(item: bytes) -> gateway.StatusUpdate | None:
    try:
        message_id, status, timestamp, callback_data, errors = json.loads(item)
        return gateway.StatusUpdate(
            message_id=message_id,
            status=status,
            timestamp=datetime.fromtimestamp(timestamp, UTC),
            callback_data=callback_data,
            errors=tuple(gateway.StatusError(*error) for error in errors),
        )
    except (ValueError, TypeError):
        logger.error("skipped an unreadable buffered status")
        return None
