"""The shared send rate (invariant 6): spacing, bursts, 130429 slow-downs, and many senders at once.

The production criterion is "never more than 5 % over the limit in any 10 s window"; the
concurrency tests check the stricter 1 s window so that they stay short.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

import gateway
import gateway.ratelimit
from gateway.backends.base import BaseBackend
from gateway.ratelimit import LocalRateLimiter, RateLimiter

Factory = Callable[..., LocalRateLimiter | RateLimiter]


@pytest.fixture
def redis_key(redis_url: str) -> Iterator[tuple[str, str]]:
    """A fresh key for one test, deleted afterwards."""
    key = f"infocomune:test:rate:{uuid.uuid4().hex}"
    yield redis_url, key
    client = redis.Redis.from_url(redis_url)
    client.delete(key)
    client.close()


@pytest.fixture(params=["local", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> Factory:
    """Build limiters of either kind; all limiters of one test share one schedule if in Redis."""
    if request.param == "local":
        return LocalRateLimiter
    url, key = request.getfixturevalue("redis_key")
    client = redis.Redis.from_url(url)
    request.addfinalizer(client.close)
    return lambda rate, **options: RateLimiter(client, key, rate, **options)


def max_in_window(stamps: list[float], window: float) -> int:
    """The largest number of timestamps inside any window of ``window`` seconds."""
    stamps = sorted(stamps)
    best = end = 0
    for start, t in enumerate(stamps):
        while end < len(stamps) and stamps[end] - t < window:
            end += 1
        best = max(best, end - start)
    return best


@pytest.mark.parametrize("limiter_class", [LocalRateLimiter, RateLimiter])
@pytest.mark.parametrize(
    "options",
    [
        {"rate_per_second": 0},
        {"rate_per_second": -5},
        {"rate_per_second": float("nan")},
        {"rate_per_second": float("inf")},
        {"rate_per_second": 10, "burst": 0},
    ],
)
def test_invalid_settings_are_refused(limiter_class: type, options: dict) -> None:
    args = (redis.Redis(), "k") if limiter_class is RateLimiter else ()  # no connection is made
    with pytest.raises(ValueError):
        limiter_class(*args, **options)


def test_default_burst_is_a_twentieth_of_the_rate() -> None:
    assert LocalRateLimiter(80).burst == 4
    assert LocalRateLimiter(1000).burst == 50
    assert LocalRateLimiter(5).burst == 1


def test_reserve_returns_waits_growing_at_the_configured_spacing(make_limiter: Factory) -> None:
    limiter = make_limiter(100, burst=1)
    waits = [limiter.reserve() for _ in range(5)]
    assert waits[0] == 0.0
    for i, wait in enumerate(waits):
        assert wait == pytest.approx(i * 0.01, abs=0.004)
    assert waits == sorted(waits)


def test_a_burst_goes_at_once_then_the_rate_applies(make_limiter: Factory) -> None:
    limiter = make_limiter(100, burst=5)
    waits = [limiter.reserve() for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.01, abs=0.004)
    assert waits[6] == pytest.approx(0.02, abs=0.004)


def test_a_batch_is_spaced_and_the_next_caller_queues_behind_it(make_limiter: Factory) -> None:
    limiter = make_limiter(10, burst=1)
    # reserve(n) answers when all n slots are due: the last of 0.0, 0.1, 0.2, 0.3.
    assert limiter.reserve(4) == pytest.approx(0.3, abs=0.004)
    assert limiter.reserve(3) == pytest.approx(0.6, abs=0.004)
    assert limiter.reserve() == pytest.approx(0.7, abs=0.004)


def test_acquire_sleeps_until_each_slot_never_early(make_limiter: Factory) -> None:
    limiter = make_limiter(50, burst=1)
    start = time.monotonic()
    stamps = []
    for _ in range(10):
        limiter.acquire()
        stamps.append(time.monotonic() - start)
    for i, t in enumerate(stamps):
        assert t >= i * 0.02 - 0.001  # at or after its slot (a little slack for clock rounding)
    assert stamps[-1] == pytest.approx(0.18, abs=0.03)


def test_slow_down_delays_the_next_slot_of_every_caller(make_limiter: Factory) -> None:
    first = make_limiter(100)
    # Redis: another process's limiter on the same key; local: another thread, same object.
    second = first if isinstance(first, LocalRateLimiter) else make_limiter(100)
    assert first.reserve() == 0.0
    first.slow_down(0.5)
    assert second.reserve() >= 0.49
    assert first.reserve() >= 0.49


def test_slow_down_never_moves_the_schedule_earlier(make_limiter: Factory) -> None:
    limiter = make_limiter(10, burst=1)
    limiter.reserve(10)  # the next free slot is 1 s away
    limiter.slow_down(0.2)
    assert limiter.reserve() == pytest.approx(1.0, abs=0.01)
    limiter.slow_down(2.0)
    assert limiter.reserve() == pytest.approx(2.0, abs=0.01)
    limiter.slow_down(0)
    limiter.slow_down(-3)
    assert limiter.reserve() == pytest.approx(2.1, abs=0.01)


def test_the_redis_key_expires_once_the_schedule_is_past(redis_key: tuple[str, str]) -> None:
    url, key = redis_key
    client = redis.Redis.from_url(url)
    RateLimiter(client, key, 10, burst=1).reserve(5)
    assert 0 < client.pttl(key) <= 1500 + 1000
    client.close()


RATE = 200.0
BURST = 10
DURATION = 3.0
WORKERS = 4


def _send_as_fast_as_allowed(
    url: str, key: str, batch: int, barrier: object, results: multiprocessing.Queue
) -> None:
    """One worker process: take slots for DURATION seconds and report when it "sent"."""
    client = redis.Redis.from_url(url)
    limiter = RateLimiter(client, key, RATE, burst=BURST)
    stamps: list[float] = []
    barrier.wait()
    deadline = time.time() + DURATION
    while time.time() < deadline:
        for _ in range(batch):
            limiter.acquire()
            stamps.append(time.time())
    results.put([t for t in stamps if t <= deadline])
    client.close()


def test_processes_sharing_a_key_hold_the_rate_together(redis_key: tuple[str, str]) -> None:
    """Four spawned processes on one key, two taking one slot at a time, two rounds of 20."""
    url, key = redis_key
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    workers = [
        ctx.Process(target=_send_as_fast_as_allowed, args=(url, key, batch, barrier, results))
        for batch in (1, 20, 1, 20)
    ]
    for worker in workers:
        worker.start()
    stamps = [t for _ in workers for t in results.get(timeout=30)]
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0

    busiest = max_in_window(stamps, 1.0)
    print(f"\nredis, {WORKERS} processes: {len(stamps) / DURATION:.1f}/s, busiest 1 s: {busiest}")
    assert busiest <= RATE * 1.05 + BURST
    assert len(stamps) >= 0.9 * RATE * DURATION


def test_threads_sharing_a_local_limiter_hold_the_rate_together() -> None:
    limiter = LocalRateLimiter(RATE, burst=BURST)
    stamps: list[float] = []
    deadline = time.time() + 2.0

    def send() -> None:
        while time.time() < deadline:
            limiter.acquire()
            now = time.time()
            if now <= deadline:
                stamps.append(now)  # list.append is atomic under the GIL

    threads = [threading.Thread(target=send) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    busiest = max_in_window(stamps, 1.0)
    print(f"\nlocal, {WORKERS} threads: {len(stamps) / 2.0:.1f}/s, busiest 1 s: {busiest}")
    assert busiest <= RATE * 1.05 + BURST
    assert len(stamps) >= 0.9 * RATE * 2.0


# --- One limiter for every send (invariant 6) ---------------------------------------------------


class TooFastBackend(BaseBackend):
    """Meta answers every send with 130429."""

    def _send(self, message: gateway.Message) -> gateway.SendResult:
        error = gateway.SendError(kind=gateway.ErrorKind.RATE_LIMITED, code=130429, title="slow")
        return gateway.SendResult(message=message, error=error)


def test_the_limiter_lives_under_the_installations_key_prefix(redis_url, settings) -> None:
    settings.REDIS_URL = redis_url
    settings.REDIS_KEY_PREFIX = f"test-{uuid.uuid4().hex}:"
    settings.WHATSAPP_GATEWAY = {"BACKEND": "locmem", "OPTIONS": {"phone_number_id": "106"}}
    with gateway.get_backend() as backend:
        backend.send(gateway.TextMessage(to="+393331234567", body="Ciao"))
    client = redis.Redis.from_url(redis_url)
    keys = client.keys(f"{settings.REDIS_KEY_PREFIX}*")
    if keys:
        client.delete(*keys)
    client.close()
    assert keys == [f"{settings.REDIS_KEY_PREFIX}infocomune:rate:106".encode()]


def test_a_130429_pushes_the_shared_schedule_back(redis_url, settings) -> None:
    settings.REDIS_URL = redis_url
    settings.REDIS_KEY_PREFIX = f"test-{uuid.uuid4().hex}:"
    settings.BROADCAST_RATE_LIMITED_PAUSE_SECONDS = 0.5
    with gateway.get_backend(f"{__name__}.TooFastBackend") as backend:
        backend.send(gateway.TextMessage(to="+393331234567", body="Ciao"))
    # Another sender of the same number now waits out the pause.
    other = gateway.ratelimit.rate_limiter()
    assert other.reserve() == pytest.approx(0.5, abs=0.05)
    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys(f"{settings.REDIS_KEY_PREFIX}*"))
    client.close()


# --- A reply overtakes a broadcast ----------------------------------------------------------------


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "plain"])
def test_a_reply_waits_behind_a_broadcast_only_when_the_broadcast_is_not_bulk(
    make_limiter: Factory, bulk: bool
) -> None:
    """64 broadcast threads keep asking for slots at 50/s; a reply asks in the middle. Bulk
    broadcast threads hold the schedule at most BULK_AHEAD_SECONDS ahead, so the reply goes
    within about that; plain ones hold a slot each, and the reply waits for all of them."""
    rate, threads = 50, 64
    limiter = make_limiter(rate, burst=1)
    stamps: list[float] = []
    stop = threading.Event()

    def broadcast() -> None:
        while not stop.is_set():
            limiter.acquire(bulk=bulk)
            stamps.append(time.monotonic())

    senders = [threading.Thread(target=broadcast) for _ in range(threads)]
    for sender in senders:
        sender.start()
    time.sleep(1.0)
    asked = time.monotonic()
    limiter.acquire()
    waited = time.monotonic() - asked
    time.sleep(1.0)
    stop.set()
    for sender in senders:
        sender.join(timeout=threads / rate + 2)

    ahead = gateway.ratelimit.BULK_AHEAD_SECONDS
    if bulk:
        assert waited <= ahead + 3 / rate
        assert len(stamps) >= 0.9 * rate * 2.0  # the broadcast still keeps the rate
    else:
        assert waited >= 0.8 * threads / rate
    # A stamp is taken when a thread wakes, so late wakers bunch up with the next slots' (CI saw
    # 54 in 1 s at 50/s on a loaded machine). Over 2 s, 0.2 s worth of such lateness is allowed;
    # a limiter that lets a burst through, or runs at any rate above 55/s, does not fit.
    assert max_in_window(stamps, 2.0) <= rate * (2.0 + 0.2)
