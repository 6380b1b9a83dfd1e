"""Status webhooks through the Redis buffer, as in production (here the drain task runs
in-process as soon as it is enqueued; test_worker.py drains with a real worker), and the WSGI
fast path that buffers them without Django's request machinery."""

import io
import json
import uuid
from datetime import UTC, datetime

import pytest
import redis

import gateway
from broadcasts import services, status_buffer, tasks
from broadcasts.models import Delivery
from comune.webhooks import StatusWebhookFastPath
from subscribers.models import Subscriber
from tests.conftest import load_payload, text_payload

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture
def buffer(settings, redis_url):
    """The status buffer on, in a real Redis, under keys of this test only."""
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
    monkeypatch.setattr(tasks.deliveries_apply_statuses, "apply_async", lambda **kw: None)
    assert post_webhook(statuses_payload(sent[:2], "read")).status_code == 200
    assert statuses(sent) == ["sent"] * 3
    assert pending(buffer, settings) == 1  # the body, with its two statuses
    monkeypatch.undo()

    draining = f"{settings.REDIS_KEY_PREFIX}infocomune:statuses:draining"
    buffer.set(draining, 1)  # a drain is running: the sweep leaves the statuses to it
    tasks.deliveries_requeue_stuck()
    assert statuses(sent) == ["sent"] * 3

    buffer.delete(draining)  # …it ended, or died and its key expired
    tasks.deliveries_requeue_stuck()
    assert statuses(sent) == ["read", "read", "sent"]
    assert pending(buffer, settings) == 0


def body(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def test_statuses_pushed_before_a_drain_runs_share_its_batch(buffer, sent, settings):
    assert status_buffer.push(body(statuses_payload(sent[:1], "delivered"))) is True  # start one
    assert status_buffer.push(body(statuses_payload(sent[1:], "delivered"))) is False  # it's due
    assert services.deliveries_apply_buffered_statuses() == 2  # bodies

    assert statuses(sent) == ["delivered"] * 3
    assert status_buffer.push(body(statuses_payload(sent[:1], "read"))) is True  # empty again


def test_a_second_drain_leaves_the_buffer_to_the_running_one(buffer, sent, settings):
    status_buffer.push(body(statuses_payload(sent, "delivered")))
    buffer.set(f"{settings.REDIS_KEY_PREFIX}infocomune:statuses:draining", 1)

    assert services.deliveries_apply_buffered_statuses() is None
    assert statuses(sent) == ["sent"] * 3


def test_full_batches_are_drained_one_after_another(buffer, sent, settings, monkeypatch):
    monkeypatch.setattr(status_buffer, "BATCH", 1)
    for delivery in sent:
        status_buffer.push(body(statuses_payload([delivery], "read")))

    assert services.deliveries_apply_buffered_statuses() == 3
    assert statuses(sent) == ["read"] * 3


def test_what_arrives_during_a_drain_waits_a_moment_for_the_next_one(
    buffer, sent, settings, monkeypatch
):
    started = []
    monkeypatch.setattr(
        tasks.deliveries_apply_statuses, "apply_async", lambda **kw: started.append(kw)
    )
    status_buffer.push(body(statuses_payload(sent[:1], "delivered")))
    record = services.deliveries_record_statuses

    def record_while_another_arrives(*, statuses):
        # Finds the list not empty, so it starts no drain of its own.
        assert status_buffer.push(body(statuses_payload(sent[1:], "delivered"))) is False
        return record(statuses=statuses)

    monkeypatch.setattr(services, "deliveries_record_statuses", record_while_another_arrives)
    assert services.deliveries_apply_buffered_statuses() == 1

    assert statuses(sent) == ["delivered", "sent", "sent"]
    assert started == [{"countdown": services.STATUS_BATCH_SECONDS}]
    monkeypatch.undo()
    assert services.deliveries_apply_buffered_statuses() == 1
    assert statuses(sent) == ["delivered"] * 3


def test_an_unreadable_buffered_body_is_skipped_not_retried_forever(buffer, sent, settings, caplog):
    status_buffer.push(b"not json")
    status_buffer.push(body(statuses_payload(sent, "delivered")))

    assert services.deliveries_apply_buffered_statuses() == 2

    assert statuses(sent) == ["delivered"] * 3
    assert "unreadable buffered webhook body" in caplog.text


def test_without_redis_the_webhook_asks_meta_to_send_the_statuses_again(
    buffer, sent, post_webhook, settings
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = post_webhook(statuses_payload(sent, "delivered"))

    assert response.status_code == 503
    assert statuses(sent) == ["sent"] * 3


# --- The WSGI fast path ----------------------------------------------------------------------


class Django:
    """Stands in for Django's handler: records what reached it, body included."""

    def __init__(self):
        self.bodies: list[bytes] = []

    def __call__(self, environ, start_response):
        self.bodies.append(environ["wsgi.input"].read())
        start_response("418 I'm a teapot", [])
        return [b"django"]


def post(app, body: bytes, *, signature: str | None = "valid", path="/webhooks/whatsapp/", **env):
    if signature == "valid":
        signature = gateway.sign(body, "tests-app-secret")
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
        **({"HTTP_X_HUB_SIGNATURE_256": signature} if signature else {}),
        **env,
    }
    answer: list[str] = []
    content = b"".join(app(environ, lambda status, headers: answer.append(status)))
    return answer[0], content


@pytest.fixture
def django_app():
    return Django()


@pytest.fixture
def app(django_app, settings):
    settings.WHATSAPP_APP_SECRET = "tests-app-secret"
    return StatusWebhookFastPath(django_app)


def test_a_signed_status_webhook_is_buffered_and_applied_without_django(
    buffer,
    app,
    django_app,
    sent,
):
    answer = post(app, json.dumps(statuses_payload(sent, "read")).encode())

    assert answer == ("200 OK", b"")
    assert django_app.bodies == []
    assert statuses(sent) == ["read"] * 3


@pytest.mark.parametrize(
    ("body", "signature", "why"),
    [
        (json.dumps(text_payload("Iscrivimi")).encode(), "valid", "a keyword is answered now"),
        (b'{"object": "whatsapp_business_account"', "valid", "not JSON"),
        (b'{"object": "whatsapp_business_account"}', "valid", "no statuses"),
        (json.dumps({"entry": []}).encode(), "valid", "not a WhatsApp payload"),
        (b'{"object": "whatsapp_business_account"}', "sha256=" + "0" * 64, "a forged signature"),
        (b'{"object": "whatsapp_business_account"}', None, "no signature"),
    ],
)
def test_anything_but_signed_statuses_goes_to_django_with_its_body(
    buffer, app, django_app, body, signature, why
):
    assert post(app, body, signature=signature) == ("418 I'm a teapot", b"django"), why
    assert django_app.bodies == [body]


def test_without_the_status_buffer_django_answers_everything(app, django_app, settings, sent):
    settings.REDIS_URL = ""
    body = json.dumps(statuses_payload(sent, "read")).encode()

    assert post(app, body)[0] == "418 I'm a teapot"
    assert django_app.bodies == [body]


def test_with_redis_down_django_answers_so_that_meta_redelivers(
    buffer,
    app,
    django_app,
    settings,
    sent,
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    body = json.dumps(statuses_payload(sent, "read")).encode()

    assert post(app, body)[0] == "418 I'm a teapot"
    assert Delivery.objects.filter(status="read").count() == 0


@pytest.mark.parametrize("length", ["", "abc", "-1", str(10**9)])
def test_a_body_of_unknown_or_excessive_length_is_left_unread_for_django(
    buffer, app, django_app, length
):
    assert post(app, b"{}", CONTENT_LENGTH=length)[0] == "418 I'm a teapot"
    assert django_app.bodies == [b"{}"]  # unread by the fast path


def test_other_paths_and_methods_go_to_django(app, django_app):
    assert post(app, b"{}", path="/admin/")[0] == "418 I'm a teapot"
    assert post(app, b"", REQUEST_METHOD="GET")[0] == "418 I'm a teapot"
