"""Status webhooks, absorbed fast and applied in bulk.

Meta sends about three status webhooks for every message, so an emergency at 1,000 msg/s brings
3,000 POSTs a second. Writing each to the database while Meta waits would make the web tier the
bottleneck; instead the webhook appends the verified body to a Redis list (one round trip) and
a task reads and applies the statuses of many bodies at a time, one transaction per batch. The
push that finds the list empty starts a drain a moment later, so that the bodies arriving
meanwhile share its batch; a drain that read less than a full batch stops, and what arrived
during it waits that moment again for the next one. Under load that makes a few large batches
a second rather than a stream of small ones, each paying its own transaction.

Only one drain runs at once (the `draining` key), so reading the head of the list and trimming
it afterwards is safe: a drain that dies between the two leaves the batch to be applied again,
which changes nothing (statuses only climb). The bodies hold the recipients' numbers only until
they are applied. Without Redis (the embedded mode) statuses are applied at once instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import cast

import redis
from django.conf import settings

BATCH = 1000  # webhook bodies per transaction (Meta's carry one status each, mostly)
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


def push(*bodies: bytes) -> bool:
    """Append verified webhook bodies (one round trip); True when the list was empty, so the
    caller must start a drain: the pushes until it runs join the same batch."""
    pending, _draining = _keys()
    return _client(settings.REDIS_URL).rpush(pending, *bodies) == len(bodies)


def drain(apply: Callable[[list[bytes]], object]) -> int | None:
    """Hand what is buffered to `apply`, a batch of bodies at a time while the batches come
    full; a batch is trimmed once `apply` returns. Returns the bodies read, or None when another
    drain is running (what it leaves, it leaves to `waiting`)."""
    client = _client(settings.REDIS_URL)
    pending, draining = _keys()
    if not client.set(draining, 1, nx=True, ex=DRAINING_TTL_SECONDS):
        return None
    done = 0
    try:
        # Bytes: the client decodes nothing.
        while bodies := cast(list[bytes], client.lrange(pending, 0, BATCH - 1)):
            apply(bodies)
            client.ltrim(pending, len(bodies), -1)
            done += len(bodies)
            if len(bodies) < BATCH:
                break
            client.expire(draining, DRAINING_TTL_SECONDS)
    finally:
        client.delete(draining)
    return done


def waiting() -> bool:
    """Bodies are buffered (read after the drain ends: their pushes found the list not empty
    and started nobody)."""
    pending, _draining = _keys()
    return bool(_client(settings.REDIS_URL).llen(pending))


def stranded() -> bool:
    """Bodies are waiting and no drain is running: its task was lost."""
    pending, draining = _keys()
    client = _client(settings.REDIS_URL)
    return bool(client.llen(pending)) and not client.exists(draining)
