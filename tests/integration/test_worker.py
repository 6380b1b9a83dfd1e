"""Broadcasts through real Celery workers and beat on Redis and PostgreSQL, delivered by the
cloud backend to a local fake Cloud API. These need the machine's services (CI has them)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection

from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast, Delivery
from comune.celery import MAIN_WORKER_QUEUES
from gateway.testing import status_update, statuses_value, webhook_body
from subscribers.models import Subscriber
from tests.fakes.cloud_api import FakeCloudAPI

REPO = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))

pytestmark = [pytest.mark.services, pytest.mark.slow]


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Stack:
    """Worker and beat processes, configured from the environment as in production."""

    def __init__(
        self, tmp_path: Path, redis_url: str, fake: FakeCloudAPI, rate: int, key_prefix: str
    ):
        db = connection.settings_dict
        self.tmp_path = tmp_path
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_"))},
            "DJANGO_SETTINGS_MODULE": "comune.settings",
            "ENV_FILE": os.devnull,
            "SECRET_KEY": "worker-test-secret-key",
            "WHATSAPP_APP_SECRET": "tests-app-secret",
            "WHATSAPP_VERIFY_TOKEN": "tests-verify-token",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": redis_url,
            "CELERY_KEY_PREFIX": key_prefix,
            "WHATSAPP_BACKEND": "cloud",
            "WHATSAPP_API_URL": fake.url,
            "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
            "WHATSAPP_ACCESS_TOKEN": "token",
            "WHATSAPP_RATE_PER_SECOND": str(rate),
            "BROADCAST_QUIET_HOURS": "00:00,00:00",
            "BROADCAST_RETRY_BASE_SECONDS": "0.5",
            "LOG_LEVEL": "WARNING",
        }
        self.processes: list[subprocess.Popen] = []

    def start(self, *args: str, name: str) -> None:
        log = (self.tmp_path / f"{name}.log").open("w")
        self.processes.append(
            subprocess.Popen(
                [CELERY, "-A", "comune", *args],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def worker(self, name: str = "worker") -> None:
        self.start(
            "worker",
            "-Q",
            MAIN_WORKER_QUEUES,
            "-c",
            "2",
            "-l",
            "warning",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"{name}@%h",
            name=name,
        )

    def beat(self, name: str = "beat") -> None:
        schedule = self.tmp_path / f"{name}-schedule"
        self.start("beat", "-l", "warning", "--schedule", str(schedule), name=name)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in self.tmp_path.glob("*.log"))


@pytest.fixture
def key_prefix() -> str:
    """Queues of this test only: concurrent test runs on one Redis never take each other's."""
    return f"test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def stack_factory(transactional_db, postgres, redis_url, key_prefix, tmp_path, monkeypatch):
    # Beat is the scheduler here: approving must not also dispatch from the test process.
    monkeypatch.setattr(lifecycle, "_dispatch_soon", lambda: None)
    made: list[tuple[Stack, FakeCloudAPI]] = []

    def make(rate: int = 1000, **fake_options) -> tuple[Stack, FakeCloudAPI]:
        fake = FakeCloudAPI(**fake_options).start()
        stack = Stack(tmp_path, redis_url, fake, rate, key_prefix)
        made.append((stack, fake))
        return stack, fake

    yield make
    for stack, fake in made:
        stack.stop()
        fake.stop()
    broker = redis.Redis.from_url(redis_url)
    for key in broker.scan_iter(f"{key_prefix}*"):
        broker.delete(key)


def _forget_broker_connections(app) -> None:
    """Producers made earlier in this process (even eager calls make one) point at the broker
    of that time; kombu keeps its pools per broker, so forgetting ours is enough."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def publish_to_redis(redis_url, key_prefix):
    """Let the test process itself enqueue tasks on the real broker (for 'resume')."""
    with publish_to_redis_broker(redis_url, key_prefix):
        yield


@contextlib.contextmanager
def publish_to_redis_broker(redis_url: str, key_prefix: str):
    from comune.celery import app

    options = {**app.conf.broker_transport_options, "global_keyprefix": key_prefix}
    saved = app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_transport_options
    _forget_broker_connections(app)
    app.conf.task_always_eager, app.conf.broker_url = False, redis_url
    app.conf.broker_transport_options = options
    try:
        yield
    finally:
        (
            app.conf.task_always_eager,
            app.conf.broker_url,
            app.conf.broker_transport_options,
        ) = saved
        _forget_broker_connections(app)


def add_subscribers(count: int) -> None:
    """Bulk rows for scale; the keyword path is covered elsewhere, one subscriber at a time."""
    now = datetime.now(UTC)
    Subscriber.objects.bulk_create(
        Subscriber(phone=f"+39320{i:07d}", status="active", subscribed_at=now) for i in range(count)
    )


def approved(draft, approver, scheduled_at=None) -> Broadcast:
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    return lifecycle.broadcast_approve(broadcast=draft, actor=approver, scheduled_at=scheduled_at)


def exactly_once(fake: FakeCloudAPI, count: int) -> bool:
    per_recipient = Counter(request.json["to"] for request in fake.accepted)
    return len(per_recipient) == count and set(per_recipient.values()) == {1}


def test_ten_thousand_subscribers_get_exactly_one_request_each_and_statuses_move_the_counts(
    stack_factory, draft, approver, post_webhook, settings, redis_url, key_prefix
):
    add_subscribers(10_000)
    stack, fake = stack_factory(rate=1000)
    stack.worker()
    stack.beat()
    approved(draft, approver)

    wait_until(
        lambda: Broadcast.objects.get(pk=draft.pk).status == "sent", 300, "the broadcast to be sent"
    )

    assert len(fake.accepted) == len(fake.requests) == 10_000, stack.logs()
    assert exactly_once(fake, 10_000)
    counts = selectors.broadcast_delivery_counts(broadcast_id=draft.pk)
    assert (counts.total, counts.sent, counts.queued) == (10_000, 10_000, 0)

    # Meta reports back: delivered for the first 3, read for the first one.
    first = list(Delivery.objects.filter(broadcast=draft).order_by("id")[:3])
    delivered = (
        status_update(
            wamid=d.wamid,
            status="delivered",
            timestamp=1764004005,
            recipient_id=d.subscriber.phone[1:],
            callback_data=f"d:{d.pk}",
        )
        for d in first
    )
    read = status_update(wamid=first[0].wamid, status="read", timestamp=1764004010)
    payload = webhook_body(statuses_value(*delivered, read))
    # As in production: the webhook buffers them in Redis and the worker applies them.
    settings.REDIS_URL, settings.REDIS_KEY_PREFIX = redis_url, key_prefix
    with publish_to_redis_broker(redis_url, key_prefix):
        assert post_webhook(payload).status_code == 200

    def counted():
        counts = selectors.broadcast_delivery_counts(broadcast_id=draft.pk)
        return (counts.sent, counts.delivered, counts.read) == (9_997, 2, 1)

    wait_until(counted, 30, "the worker to apply the statuses")


def test_under_injected_429s_and_5xx_all_arrive_once_within_the_rate_limit(
    stack_factory, draft, approver
):
    rate, count = 150, 2_500
    add_subscribers(count)
    stack, fake = stack_factory(rate=rate)
    answered = Counter()

    def flaky(request):
        answered["n"] += 1
        if answered["n"] % 40 == 0:
            return 429, {"error": {"message": "(#130429) Rate limit hit", "code": 130429}}
        if answered["n"] % 55 == 0:
            return 503, {"error": {"message": "Service temporarily unavailable"}}
        return None

    fake.responder = flaky
    stack.worker("worker1")
    stack.worker("worker2")  # two hosts' worth of workers share one limit
    stack.beat()
    approved(draft, approver)

    wait_until(
        lambda: Broadcast.objects.get(pk=draft.pk).status == "sent", 300, "the broadcast to be sent"
    )

    assert exactly_once(fake, count), stack.logs()
    times = sorted(request.received_at for request in fake.requests)
    window = 10.0
    busiest, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > window:
            start += 1
        busiest = max(busiest, end - start + 1)
    gaps = sorted((b - a for a, b in zip(times, times[1:], strict=False)), reverse=True)[:5]
    print(
        f"requests={len(times)} in {times[-1] - times[0]:.1f}s, busiest {window:.0f}s "
        f"window={busiest} limit={rate * window:.0f}; longest gaps {[round(g, 1) for g in gaps]}"
    )
    assert busiest <= rate * window * 1.05


def test_a_scheduled_broadcast_starts_on_time_once_with_two_beats_and_two_workers(
    stack_factory, draft, approver
):
    add_subscribers(200)
    stack, fake = stack_factory(rate=1000)
    send_at = datetime.now(UTC) + timedelta(seconds=8)
    approved(draft, approver, scheduled_at=send_at)
    stack.worker("worker1")
    stack.worker("worker2")
    stack.beat("beat1")
    stack.beat("beat2")

    wait_until(
        lambda: Broadcast.objects.get(pk=draft.pk).status == "sent", 120, "the broadcast to be sent"
    )

    draft.refresh_from_db()
    assert draft.started_at >= send_at
    assert list(draft.events.values_list("action", flat=True)).count("sending started") == 1
    assert exactly_once(fake, 200), stack.logs()


def test_an_expired_token_pauses_and_resume_completes_without_duplicates(
    stack_factory, draft, approver, publish_to_redis
):
    add_subscribers(500)
    stack, fake = stack_factory(rate=1000)
    answered = Counter()

    def expire_after_100(request):
        answered["n"] += 1
        if answered["n"] > 100:
            return 401, {"error": {"message": "Error validating access token", "code": 190}}
        return None

    fake.responder = expire_after_100
    stack.worker()
    stack.beat()
    approved(draft, approver)
    wait_until(lambda: Broadcast.objects.get(pk=draft.pk).status == "paused", 120, "the pause")
    draft.refresh_from_db()
    assert "190" in draft.paused_reason

    fake.responder = None  # the comune renewed its token
    lifecycle.broadcast_resume(broadcast=draft, actor=approver)
    wait_until(
        lambda: Broadcast.objects.get(pk=draft.pk).status == "sent", 120, "the broadcast to be sent"
    )
    assert exactly_once(fake, 500), stack.logs()
