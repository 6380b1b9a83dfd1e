"""Status webhooks through the Redis buffer, as in production (here the drain task runs
in-process as soon as it is enqueued; test_worker.py drains with a real worker)."""

import uuid
from datetime import UTC, datetime

import pytest
import redis

import gateway
from broadcasts import services, status_buffer, tasks
from broadcasts.models import Delivery
from subscribers.models import Subscriber
from tests.conftest import load_payload

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture
def buffer(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.REDIS_KEY_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    client = redis.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(f"{settings.REDIS_KEY_PREFIX}*"):
        client.delete(key)


@pytest.fixture
def sent(draft):
    """Three messages our worker sent, awaiting Meta's statuses."""
    now = datetime.now(UTC)
    rows = []
    for i in range(3):
        subscriber = Subscriber.objects.create(
            phone=f"+39320000000{i}", status="active", subscribed_at=now
        )
        rows.append(
            Delivery.objects.create(
                broadcast=draft,
                subscriber=subscriber,
                status="sent",
                wamid=f"wamid.sent{i}",
                queued_at=now,
                sent_at=now,
            )
        )
    return rows


def statuses_payload(deliveries, status: str) -> dict:
    payload = load_payload("status_sent_delivered_read")
    payload["entry"][0]["changes"][0]["value"]["statuses"] = [
        {"id": d.wamid, "status": status, "timestamp": "1764004005", "recipient_id": "39320"}
        for d in deliveries
    ]
    return payload


def pending(client: redis.Redis, settings) -> int:
    return client.llen(f"{settings.REDIS_KEY_PREFIX}infocomune:statuses")


def statuses(deliveries) -> list[str]:
    return [Delivery.objects.get(pk=d.pk).status for d in deliveries]


def test_statuses_go_through_the_buffer_and_reach_the_deliveries(
    buffer, sent, post_webhook, settings
):
    assert post_webhook(statuses_payload(sent, "delivered")).status_code == 200

    assert statuses(sent) == ["delivered"] * 3
    assert pending(buffer, settings) == 0


def test_statuses_whose_drain_was_lost_are_applied_by_the_periodic_sweep(
    buffer, sent, post_webhook, settings, monkeypatch
):
    monkeypatch.setattr(tasks.deliveries_apply_statuses, "delay", lambda: None)  # lost
    assert post_webhook(statuses_payload(sent[:2], "read")).status_code == 200
    assert statuses(sent) == ["sent"] * 3
    assert pending(buffer, settings) == 2

    tasks.deliveries_requeue_stuck()  # the drain is presumed running until its key expires
    assert statuses(sent) == ["sent"] * 3

    buffer.delete(f"{settings.REDIS_KEY_PREFIX}infocomune:statuses:draining")  # expired
    monkeypatch.undo()
    tasks.deliveries_requeue_stuck()
    assert statuses(sent) == ["read", "read", "sent"]
    assert pending(buffer, settings) == 0


def test_statuses_pushed_while_a_drain_runs_are_applied_by_that_drain(buffer, sent, settings):
    updates = gateway.parse_webhook(statuses_payload(sent, "delivered")).statuses

    assert status_buffer.push(updates[:1]) is True  # nobody drains: start one
    assert status_buffer.push(updates[1:]) is False  # one is starting: nothing more to do
    assert services.deliveries_apply_buffered_statuses() == 3

    assert statuses(sent) == ["delivered"] * 3
    assert status_buffer.push(updates[:1]) is True  # that drain has finished


def test_an_unreadable_buffered_status_is_skipped_not_retried_forever(
    buffer, sent, settings, caplog
):
    updates = gateway.parse_webhook(statuses_payload(sent, "delivered")).statuses
    buffer.rpush(f"{settings.REDIS_KEY_PREFIX}infocomune:statuses", b"not json")
    status_buffer.push(updates)

    assert services.deliveries_apply_buffered_statuses() == 4

    assert statuses(sent) == ["delivered"] * 3
    assert "unreadable buffered status" in caplog.text


def test_without_redis_the_webhook_asks_meta_to_send_the_statuses_again(
    buffer, sent, post_webhook, settings
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = post_webhook(statuses_payload(sent, "delivered"))

    assert response.status_code == 503
    assert statuses(sent) == ["sent"] * 3
