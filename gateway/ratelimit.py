"""One send rate shared by every worker that talks to Meta for the same phone number.

Meta allows 80 messages/s per number by default (up to 1,000) and answers 130429 above it. The
broadcast workers are several processes, possibly on several machines, so the limit must live in
Redis: ``RateLimiter`` keeps one *schedule* there and hands out send slots in order of arrival.

The algorithm is GCRA (generic cell rate algorithm) used as a reservation queue. The key holds the
"theoretical arrival time" (TAT): when the next free slot is. Reserving ``n`` slots gives the caller
the slots ``start, start + 1/rate, …`` with ``start = max(TAT, now - tolerance)`` and moves TAT to
``start + n/rate``. Nobody is refused and nobody polls: concurrent callers simply get later slots,
learn how long to wait, and sleep once. The read-modify-write is one Lua script using Redis' own
clock (``TIME``), so it is atomic and the clocks of the worker hosts do not matter: a caller only
uses the *duration* it is told to wait.

The tolerance is what allows a burst after an idle period: ``burst`` slots may fall on the same
instant. Any window of ``W`` seconds then holds at most ``rate * W + burst`` slots. The default
burst, ``rate / 20`` (at least 1), keeps that within 5 % of the rate even for a 1 s window, so the
production criterion ("never more than 5 % over the limit in any 10 s window") holds with a wide
margin, whatever window Meta measures on.

Slots are handed out in order of arrival, so a sender with many threads could hold the schedule
seconds ahead, and a keyword's reply, asking after them, would wait all that time. A bulk sender
(a broadcast's send threads) therefore asks with ``acquire(bulk=True)``: it takes a slot only
once one is due within ``BULK_AHEAD_SECONDS``, one thread per process asking at a time (the
others wait their turn in the process, not in the schedule). The schedule then never runs more
than that far ahead of now, and a plain ``acquire()`` (a reply, a test send) waits at most about
that long, whatever a broadcast is doing; the rate itself is the same for both.

``LocalRateLimiter`` is the same thing in one process (a lock and ``time.monotonic``), for the
embedded mode without Redis; ``NoRateLimit`` is WHATSAPP_RATE_PER_SECOND=0 (benchmarks of the
product's own speed). ``rate_limiter()`` is the one factory: every backend built by
``gateway.get_backend()`` takes a slot from it before each send, so broadcasts, keyword replies
and test sends all share the number's one rate (invariant 6).

The limiters import only redis-py and the standard library (the factory reads Django's settings
when called), so any process can use them, including the spawned test processes.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from typing import Protocol

import redis


class RateLimiterUnavailable(Exception):
    """The shared schedule could not be reached (Redis is down): no slot was taken, so nothing
    may be sent."""


# How far ahead of now a bulk sender may hold slots: enough for the send threads to keep the
# rate (they sleep until their slot, then send), short enough for a reply to overtake.
BULK_AHEAD_SECONDS = 0.1


class Limiter(Protocol):
    """What a backend needs of a limiter: a slot before each send, a pause after a 130429."""

    def acquire(self, *, bulk: bool = False) -> None: ...

    def slow_down(self, seconds: float) -> None: ...


class _BaseRateLimiter:
    """The API both limiters share; subclasses only implement the two atomic operations."""

    def __init__(self, rate_per_second: float, *, burst: int | None = None) -> None:
        if not rate_per_second > 0 or math.isinf(rate_per_second):  # also refuses NaN
            raise ValueError(f"rate_per_second must be a positive number, not {rate_per_second!r}")
        if burst is None:
            burst = max(1, int(rate_per_second / 20))
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self.rate_per_second = float(rate_per_second)
        self.burst = int(burst)
        #: Seconds between two consecutive slots.
        self.interval = 1.0 / self.rate_per_second
        # How far behind "now" the schedule may lag after an idle period: burst - 1 extra slots.
        self._tolerance = (self.burst - 1) * self.interval
        self._bulk_turn = threading.Lock()

    def _reserve(self, n: int, *, ahead: float | None = None) -> tuple[bool, float]:
        """Atomically reserve ``n`` consecutive slots; return True and the first one's offset
        from now.

        The offset is negative when burst credit lets the first slots go immediately. With
        ``ahead``, nothing is reserved when the first slot is further than that from now:
        False and that slot's offset, so the caller knows when to ask again.
        """
        raise NotImplementedError

    def slow_down(self, seconds: float) -> None:
        """Push the shared schedule so that no caller's next slot is sooner than ``seconds``.

        Call it on Meta's 130429. It never moves the schedule earlier, and it also uses up the
        burst credit, so sending resumes at the plain rate. Slots reserved *before* the call are
        not recalled.
        """
        raise NotImplementedError

    def reserve(self, n: int = 1) -> float:
        """Reserve ``n`` consecutive slots (one round trip); return the seconds to wait until
        the last of them is due (0.0: now)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, not {n!r}")
        _, offset = self._reserve(n)
        return max(0.0, offset + (n - 1) * self.interval)

    def acquire(self, *, bulk: bool = False) -> None:
        """Reserve one slot and sleep until it is due; ``bulk``: see the module's docstring."""
        wait = self._bulk_slot() if bulk else self.reserve()
        if wait > 0:
            time.sleep(wait)

    def _bulk_slot(self) -> float:
        """A slot due within BULK_AHEAD_SECONDS, asked for by one thread of the process at a
        time; the seconds until it is due."""
        with self._bulk_turn:
            while True:
                reserved, offset = self._reserve(1, ahead=BULK_AHEAD_SECONDS)
                if reserved:
                    return max(0.0, offset)
                time.sleep(max(offset - BULK_AHEAD_SECONDS, self.interval))


# KEYS[1]: the schedule key. ARGV: n, interval, tolerance, ahead (negative: no bound), in
# microseconds except n. The TAT is stored in microseconds of Redis time, as a full-precision
# string; the key expires once it is so far in the past that it no longer matters. Returns the
# first slot's distance from now, as a string, since Redis would truncate a Lua number to an
# integer, after a 'w' (wait) when that slot is further than `ahead` (nothing reserved).
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local ahead = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now - tolerance)
if ahead >= 0 and start - now > ahead then
  return 'w' .. string.format('%.17g', start - now)
end
local new_tat = start + n * interval
redis.call('SET', KEYS[1], string.format('%.17g', new_tat),
           'PX', math.ceil((new_tat - now + tolerance) / 1000) + 1000)
return string.format('%.17g', start - now)
"""

# KEYS[1]: the schedule key. ARGV[1]: the pause in microseconds. TAT becomes >= now + pause.
_SLOW_DOWN_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local new_tat = math.max(tat, now + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%.17g', new_tat),
           'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 1
"""

_US = 1_000_000.0


class RateLimiter(_BaseRateLimiter):
    """The rate limit shared by all processes and hosts using the same Redis ``key``.

    ``key`` names one sending number (see ``rate_limiter``). Every process must use the same
    ``rate_per_second`` for a key (the schedule holds times, not a rate, so a changed rate takes
    effect from the next reservation).
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        key: str,
        rate_per_second: float,
        *,
        burst: int | None = None,
    ) -> None:
        super().__init__(rate_per_second, burst=burst)
        self.redis = redis_client
        self.key = key
        self._reserve_script = redis_client.register_script(_RESERVE_LUA)
        self._slow_down_script = redis_client.register_script(_SLOW_DOWN_LUA)

    def _reserve(self, n: int, *, ahead: float | None = None) -> tuple[bool, float]:
        bound = -1.0 if ahead is None else ahead * _US
        try:
            offset = self._reserve_script(
                keys=[self.key],
                args=[n, repr(self.interval * _US), repr(self._tolerance * _US), repr(bound)],
            )
        except redis.RedisError as exc:
            raise RateLimiterUnavailable(type(exc).__name__) from exc
        text = offset.decode() if isinstance(offset, bytes) else str(offset)
        refused = text.startswith("w")
        return not refused, float(text[1:] if refused else text) / _US

    def slow_down(self, seconds: float) -> None:
        if seconds > 0:
            try:
                self._slow_down_script(keys=[self.key], args=[repr(seconds * _US)])
            except redis.RedisError as exc:
                raise RateLimiterUnavailable(type(exc).__name__) from exc


class LocalRateLimiter(_BaseRateLimiter):
    """The same limiter for one process: its threads share the schedule, other processes don't."""

    def __init__(self, rate_per_second: float, *, burst: int | None = None) -> None:
        super().__init__(rate_per_second, burst=burst)
        self._lock = threading.Lock()
        self._tat = 0.0  # in time.monotonic() seconds

    def _reserve(self, n: int, *, ahead: float | None = None) -> tuple[bool, float]:
        with self._lock:
            now = time.monotonic()
            start = max(self._tat, now - self._tolerance)
            if ahead is not None and start - now > ahead:
                return False, start - now
            self._tat = start + n * self.interval
            return True, start - now

    def slow_down(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._tat = max(self._tat, time.monotonic() + seconds)


class NoRateLimit:
    """WHATSAPP_RATE_PER_SECOND=0: no limit at all."""

    def acquire(self, *, bulk: bool = False) -> None:
        return None

    def slow_down(self, seconds: float) -> None:
        return None


def rate_limiter() -> Limiter:
    """The limiter of the configured sending number and rate: in Redis (under the installation's
    key prefix) when there is one, else in this process."""
    from django.conf import settings

    phone_number_id = settings.WHATSAPP_GATEWAY["OPTIONS"].get("phone_number_id") or "default"
    key = f"{settings.REDIS_KEY_PREFIX}infocomune:rate:{phone_number_id}"
    return _limiter(settings.REDIS_URL, key, settings.WHATSAPP_RATE_PER_SECOND)


@functools.lru_cache(maxsize=8)
def _limiter(redis_url: str, key: str, rate: float) -> Limiter:
    if rate <= 0:
        return NoRateLimit()
    if not redis_url:
        return LocalRateLimiter(rate)
    return RateLimiter(redis.Redis.from_url(redis_url), key, rate)
