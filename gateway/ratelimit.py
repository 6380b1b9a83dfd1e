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

``LocalRateLimiter`` is the same thing in one process (a lock and ``time.monotonic``), for the
embedded mode without Redis and for tests.

The module itself imports only redis-py and the standard library (no Django, no models), so any
process can use it, including the spawned test processes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import redis


class WaitTooLong(Exception):
    """The schedule is further ahead than the limiter's ``max_wait``; nothing was reserved.

    A Celery task would rather retry later (``countdown=exc.wait``) than hold a worker asleep
    for minutes, for instance after ``slow_down(60)``.
    """

    def __init__(self, wait: float) -> None:
        super().__init__(f"the next send slot is {wait:.3f} s away")
        self.wait = wait


class _BaseRateLimiter:
    """The API both limiters share; subclasses only implement the two atomic operations."""

    def __init__(
        self, rate_per_second: float, *, burst: int | None = None, max_wait: float | None = None
    ) -> None:
        if not rate_per_second > 0 or math.isinf(rate_per_second):  # also refuses NaN
            raise ValueError(f"rate_per_second must be a positive number, not {rate_per_second!r}")
        if burst is None:
            burst = max(1, int(rate_per_second / 20))
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        if max_wait is not None and not max_wait >= 0:
            raise ValueError(f"max_wait must be None or >= 0, not {max_wait!r}")
        self.rate_per_second = float(rate_per_second)
        self.burst = int(burst)
        self.max_wait = max_wait
        #: Seconds between two consecutive slots.
        self.interval = 1.0 / self.rate_per_second
        # How far behind "now" the schedule may lag after an idle period: burst - 1 extra slots.
        self._tolerance = (self.burst - 1) * self.interval

    def _reserve(self, n: int) -> float:
        """Atomically reserve ``n`` consecutive slots; return the first one's offset from now.

        The offset is negative when burst credit lets the first slots go immediately.
        Raise ``WaitTooLong`` (reserving nothing) if it exceeds ``max_wait``.
        """
        raise NotImplementedError

    def slow_down(self, seconds: float) -> None:
        """Push the shared schedule so that no caller's next slot is sooner than ``seconds``.

        Call it on Meta's 130429. It never moves the schedule earlier, and it also uses up the
        burst credit, so sending resumes at the plain rate. Slots reserved *before* the call are
        not recalled: a caller that got 130429 should drop the rest of its batch, and the others'
        batches end within ``n / rate`` seconds, so keep batches short (tens of slots).
        """
        raise NotImplementedError

    def reserve_batch(self, n: int) -> list[float]:
        """Reserve ``n`` slots at once; return, for each, how many seconds from now it is due.

        One round trip for a whole batch. The waits are relative to the moment of the call:
        ``paced`` turns them into sleeps for you.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, not {n!r}")
        first = self._reserve(n)
        return [max(0.0, first + i * self.interval) for i in range(n)]

    def reserve(self, n: int = 1) -> float:
        """Reserve ``n`` slots; return the seconds to wait until *all* of them are due (0.0: now).

        With ``n > 1``, sending all ``n`` at once after that wait may put up to ``n - 1`` more
        messages in a window than the schedule does; use ``paced`` to send a batch at the rate.
        """
        return self.reserve_batch(n)[-1]

    def acquire(self, n: int = 1) -> None:
        """Reserve ``n`` slots and sleep until all of them are due (see ``reserve``)."""
        wait = self.reserve(n)
        if wait > 0:
            time.sleep(wait)

    def paced(self, n: int) -> Iterator[int]:
        """Reserve ``n`` slots in one call and yield 0…n-1, each at its slot's time.

        ``for _ in limiter.paced(len(batch)): send(...)``. Each message leaves at or after its own
        slot, never early, so the batch cannot overshoot the rate. Breaking out of the loop (after
        a 130429, say) simply leaves the remaining slots unused.
        """
        start = time.monotonic()
        for i, wait in enumerate(self.reserve_batch(n)):
            delay = start + wait - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield i


# KEYS[1]: the schedule key. ARGV: n, interval, tolerance, max_wait (negative: none), all in
# microseconds except n. The TAT is stored in microseconds of Redis time, as a full-precision
# string; the key expires once it is so far in the past that it no longer matters.
# Returns {1, offset} on success or {0, offset} when refused by max_wait; offset (a string, since
# Redis would truncate a Lua number to an integer) is the first slot's distance from now.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now - tolerance)
local offset = start - now
if max_wait >= 0 and offset > max_wait then
    return {0, string.format('%.17g', offset)}
end
local new_tat = start + n * interval
redis.call('SET', KEYS[1], string.format('%.17g', new_tat),
           'PX', math.ceil((new_tat - now + tolerance) / 1000) + 1000)
return {1, string.format('%.17g', offset)}
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

    ``key`` names one sending number, e.g. ``"infocomune:rate:<phone_number_id>"``. Every
    process must use the same ``rate_per_second`` for a key (the schedule holds times, not a
    rate, so a changed rate takes effect from the next reservation). ``max_wait`` (seconds,
    default none): refuse with ``WaitTooLong`` instead of reserving a slot further ahead than that.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        key: str,
        rate_per_second: float,
        *,
        burst: int | None = None,
        max_wait: float | None = None,
    ) -> None:
        super().__init__(rate_per_second, burst=burst, max_wait=max_wait)
        self.redis = redis_client
        self.key = key
        self._reserve_script = redis_client.register_script(_RESERVE_LUA)
        self._slow_down_script = redis_client.register_script(_SLOW_DOWN_LUA)

    def _reserve(self, n: int) -> float:
        max_wait = -1.0 if self.max_wait is None else self.max_wait * _US
        ok, offset = self._reserve_script(
            keys=[self.key],
            args=[n, repr(self.interval * _US), repr(self._tolerance * _US), repr(max_wait)],
        )
        offset_seconds = float(offset) / _US
        if not ok:
            raise WaitTooLong(offset_seconds)
        return offset_seconds

    def slow_down(self, seconds: float) -> None:
        if seconds > 0:
            self._slow_down_script(keys=[self.key], args=[repr(seconds * _US)])


class LocalRateLimiter(_BaseRateLimiter):
    """The same limiter for one process: its threads share the schedule, other processes don't."""

    def __init__(
        self, rate_per_second: float, *, burst: int | None = None, max_wait: float | None = None
    ) -> None:
        super().__init__(rate_per_second, burst=burst, max_wait=max_wait)
        self._lock = threading.Lock()
        self._tat = 0.0  # in time.monotonic() seconds

    def _reserve(self, n: int) -> float:
        with self._lock:
            now = time.monotonic()
            start = max(self._tat, now - self._tolerance)
            offset = start - now
            if self.max_wait is not None and offset > self.max_wait:
                raise WaitTooLong(offset)
            self._tat = start + n * self.interval
            return offset

    def slow_down(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._tat = max(self._tat, time.monotonic() + seconds)
