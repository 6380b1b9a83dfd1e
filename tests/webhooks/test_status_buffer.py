"""Status webhooks stored in the database before the 200 and drained in bulk, as in production
(here the drain task runs in-process as soon as it is enqueued; test_worker.py drains with a
real worker), and the ASGI fast path that stores them without Django's request machinery."""

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import redis
from asgiref.sync import async_to_sync
from django.db import OperationalError, connection, connections

import gateway
from broadcasts.models import Delivery
from broadcasts.services.statuses import deliveries_apply_statuses
from gateway.testing import status_update, statuses_value, webhook_body
from subscribers.models import Subscriber
from tests.conftest import load_payload, text_payload
from webhooks import services as webhook_services
from webhooks import status_buffer
from webhooks import tasks as webhook_tasks
from webhooks.fastpath import StatusWebhookFastPath
from webhooks.models import StatusDeadLetter, StatusWebhook

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
    updates = (
        status_update(wamid=d.wamid, status=status, timestamp=1764004005, recipient_id="39320")
        for d in deliveries
    )
    return webhook_body(statuses_value(*updates))


def pending(client: redis.Redis, settings) -> int:
    return StatusWebhook.objects.count()


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
    monkeypatch.setattr(webhook_tasks.statuses_apply_buffered, "apply_async", lambda *a, **kw: None)
    assert post_webhook(statuses_payload(sent[:2], "read")).status_code == 200
    assert statuses(sent) == ["sent"] * 3
    assert pending(buffer, settings) == 1  # the body, with its two statuses
    monkeypatch.undo()

    webhook_tasks.statuses_apply_stranded()  # a drain may still be on its way: left to it
    assert statuses(sent) == ["sent"] * 3

    StatusWebhook.objects.update(received_at=datetime.now(UTC) - status_buffer.STRANDED_AFTER)
    webhook_tasks.statuses_apply_stranded()
    assert statuses(sent) == ["read", "read", "sent"]
    assert pending(buffer, settings) == 0


def test_a_redis_restart_loses_no_status_answered_200(buffer, sent, post_webhook, settings):
    """Issue 14: bodies answered 200 lived only in a Redis list, and a restart erased them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(webhook_tasks.statuses_apply_buffered, "apply_async", lambda *a, **kw: None)
        assert post_webhook(statuses_payload(sent, "read")).status_code == 200
    buffer.flushdb()  # what a restart of a Redis that keeps nothing on disk leaves

    StatusWebhook.objects.update(received_at=datetime.now(UTC) - status_buffer.STRANDED_AFTER)
    webhook_tasks.statuses_apply_stranded()
    assert statuses(sent) == ["read"] * 3


def body(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def test_statuses_pushed_before_a_drain_runs_share_its_batch(buffer, sent, settings):
    assert status_buffer.push(body(statuses_payload(sent[:1], "delivered"))) is True  # start one
    assert status_buffer.push(body(statuses_payload(sent[1:], "delivered"))) is False  # it's due
    assert webhook_services.statuses_apply_buffered() == 2  # bodies

    assert statuses(sent) == ["delivered"] * 3
    assert status_buffer.push(body(statuses_payload(sent[:1], "read"))) is True  # empty again


@pytest.mark.django_db(transaction=True)
def test_two_drains_side_by_side_share_the_bodies_without_applying_one_twice(
    buffer, sent, settings, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL")
    monkeypatch.setattr(status_buffer, "BATCH", 1)
    for delivery in sent:
        status_buffer.push(body(statuses_payload([delivery], "read")))
    applied: list[int] = []
    apply = webhook_services._statuses_apply

    def counted(bodies):
        applied.append(len(bodies))
        return apply(bodies)

    monkeypatch.setattr(webhook_services, "_statuses_apply", counted)
    with ThreadPoolExecutor(2) as pool:
        read = list(pool.map(lambda _: webhook_services.statuses_apply_buffered(), range(2)))
    connections.close_all()

    assert sum(read) == sum(applied) == 3
    assert statuses(sent) == ["read"] * 3
    assert pending(buffer, settings) == 0


def test_full_batches_are_drained_one_after_another(buffer, sent, settings, monkeypatch):
    monkeypatch.setattr(status_buffer, "BATCH", 1)
    for delivery in sent:
        status_buffer.push(body(statuses_payload([delivery], "read")))

    assert webhook_services.statuses_apply_buffered() == 3
    assert statuses(sent) == ["read"] * 3


def test_what_arrives_during_a_drain_waits_a_moment_for_the_next_one(
    buffer, sent, settings, monkeypatch
):
    started = []
    monkeypatch.setattr(
        webhook_tasks.statuses_apply_buffered,
        "apply_async",
        lambda args=(), **kw: started.append(kw),
    )
    status_buffer.push(body(statuses_payload(sent[:1], "delivered")))
    record = deliveries_apply_statuses

    def record_while_another_arrives(*, statuses):
        # The running drain no longer counts as due: this webhook starts the next one.
        webhook_services.statuses_receive(bodies=[body(statuses_payload(sent[1:], "delivered"))])
        return record(statuses=statuses)

    monkeypatch.setattr(webhook_services, "deliveries_apply_statuses", record_while_another_arrives)
    assert webhook_services.statuses_apply_buffered() == 1

    assert statuses(sent) == ["delivered", "sent", "sent"]
    assert started == [{"countdown": webhook_services.STATUS_BATCH_SECONDS}]
    monkeypatch.undo()
    assert webhook_services.statuses_apply_buffered() == 1
    assert statuses(sent) == ["delivered"] * 3


def test_an_unreadable_buffered_body_is_skipped_not_retried_forever(buffer, sent, settings, caplog):
    status_buffer.push(b"not json")
    status_buffer.push(body(statuses_payload(sent, "delivered")))

    assert webhook_services.statuses_apply_buffered() == 2

    assert statuses(sent) == ["delivered"] * 3
    assert "unreadable buffered webhook body" in caplog.text


def test_with_redis_down_statuses_are_still_stored_answered_200_and_swept(
    buffer, sent, post_webhook, settings
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: no drain can start

    assert post_webhook(statuses_payload(sent, "delivered")).status_code == 200

    assert pending(buffer, settings) == 1
    StatusWebhook.objects.update(received_at=datetime.now(UTC) - status_buffer.STRANDED_AFTER)
    webhook_services.statuses_apply_buffered()  # what the sweep starts once Redis is back
    assert statuses(sent) == ["delivered"] * 3


def test_with_the_database_down_the_webhook_asks_meta_to_send_the_statuses_again(
    buffer, sent, post_webhook, monkeypatch
):
    def database_down(*bodies):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(status_buffer, "push", database_down)

    assert post_webhook(statuses_payload(sent, "delivered")).status_code == 503


# --- The ASGI fast path ----------------------------------------------------------------------


class Django:
    """Stands in for Django's handler: records the body that reached it."""

    def __init__(self):
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send):
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.bodies.append(b"".join(chunks))
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})


def request(
    body: bytes, *, signature="valid", path="/webhooks/whatsapp/", method="POST", length=None
):
    """A client's request as the server hands it over: its scope and its body's messages, the
    body in two parts as it may arrive."""
    if signature == "valid":
        signature = gateway.sign(body, "tests-app-secret")
    headers = [(b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body) if length is None else length).encode()))
    if signature:
        headers.append((b"x-hub-signature-256", signature.encode()))
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": headers}
    half = len(body) // 2
    messages = [
        {"type": "http.request", "body": body[:half], "more_body": True},
        {"type": "http.request", "body": body[half:], "more_body": False},
    ]
    return scope, messages


async def answer(app, scope, messages) -> tuple[int, bytes]:
    incoming = list(messages)
    sent = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return 0, b""  # no answer
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def post(app, body: bytes, **kwargs) -> tuple[int, bytes]:
    return async_to_sync(answer)(app, *request(body, **kwargs))


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
    assert post(app, body(statuses_payload(sent, "read"))) == (200, b"")

    assert django_app.bodies == []
    assert statuses(sent) == ["read"] * 3


def test_webhooks_arriving_together_are_stored_in_one_push_each_answered_after_it(
    buffer, app, django_app, sent, settings, monkeypatch
):
    pushes = []
    push = status_buffer.push

    def recorded_push(*bodies):
        pushes.append(len(bodies))
        return push(*bodies)

    monkeypatch.setattr(status_buffer, "push", recorded_push)
    bodies = [body(statuses_payload([d], status)) for d in sent for status in ("delivered", "read")]

    async def together():
        return await asyncio.gather(*(answer(app, *request(b)) for b in bodies))

    assert async_to_sync(together)() == [(200, b"")] * 6
    assert pushes == [6]
    assert statuses(sent) == ["read"] * 3


def test_when_a_push_fails_every_webhook_waiting_for_it_goes_to_django(
    buffer, app, django_app, sent, monkeypatch
):
    def database_down(*bodies):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(status_buffer, "push", database_down)
    bodies = [body(statuses_payload([d], "read")) for d in sent]

    async def together():
        return await asyncio.gather(*(answer(app, *request(b)) for b in bodies))

    assert async_to_sync(together)() == [(418, b"django")] * 3
    assert django_app.bodies == bodies


@pytest.mark.parametrize(
    ("payload", "signature", "why"),
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
    buffer, app, django_app, payload, signature, why
):
    assert post(app, payload, signature=signature) == (418, b"django"), why
    assert django_app.bodies == [payload]


def test_without_the_status_buffer_django_answers_everything(app, django_app, settings, sent):
    settings.REDIS_URL = ""
    payload = body(statuses_payload(sent, "read"))

    assert post(app, payload)[0] == 418
    assert django_app.bodies == [payload]


def test_with_redis_down_the_fast_path_still_stores_and_answers_200(
    buffer,
    app,
    django_app,
    settings,
    sent,
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: no drain can start

    assert post(app, body(statuses_payload(sent, "read"))) == (200, b"")
    assert django_app.bodies == []
    assert StatusWebhook.objects.count() == 1


@pytest.mark.parametrize(
    ("length", "status"), [("", 400), ("abc", 400), ("-1", 400), ("1e3", 400), (str(10**9), 413)]
)
def test_a_body_of_invalid_or_excessive_length_is_refused_unread(
    buffer, app, django_app, length, status
):
    scope, messages = request(b"{}", length=length)
    reads = []

    async def receive():
        reads.append(1)
        return messages.pop(0)

    sent = []

    async def send(message):
        sent.append(message)

    async_to_sync(app)(scope, receive, send)

    assert sent[0]["status"] == status
    assert reads == []  # not a byte read
    assert django_app.bodies == []


def test_a_client_that_leaves_before_its_body_ends_gets_no_answer_and_buffers_nothing(
    buffer, app, django_app, sent, settings
):
    scope, messages = request(body(statuses_payload(sent, "read")))

    assert async_to_sync(answer)(app, scope, messages[:1]) == (0, b"")
    assert pending(buffer, settings) == 0
    assert django_app.bodies == []


def test_other_paths_and_methods_go_to_django(app, django_app):
    assert post(app, b"{}", path="/admin/")[0] == 418
    assert post(app, b"{}", method="PUT")[0] == 418


# --- A body that cannot be applied is set aside -----------------------------------------------


@pytest.fixture
def unrecorded(draft):
    """A row whose send Meta accepted but our worker died before recording its message id."""
    subscriber = Subscriber.objects.create(
        phone="+393209999999", status="active", subscribed_at=datetime.now(UTC)
    )
    return Delivery.objects.create(
        broadcast=draft, subscriber=subscriber, status="sending", queued_at=datetime.now(UTC)
    )


def test_a_body_the_database_refuses_is_set_aside_and_the_rest_of_its_batch_applied(
    buffer, sent, unrecorded, settings, caplog
):
    # Its callback data names a row other than the one that holds its message id: recording the
    # id on that row breaks the one-row-per-message rule, so the database refuses the batch.
    poisoned = statuses_payload(sent[:1], "delivered")
    [status] = poisoned["entry"][0]["changes"][0]["value"]["statuses"]
    status.update(biz_opaque_callback_data=f"d:{unrecorded.pk}", recipient_id="393331234567")
    status_buffer.push(body(statuses_payload(sent[1:2], "read")))
    status_buffer.push(body(poisoned))
    status_buffer.push(body(statuses_payload(sent[2:], "read")))

    assert webhook_services.statuses_apply_buffered() == 3

    assert statuses(sent) == ["sent", "read", "read"]
    assert pending(buffer, settings) == 0  # nothing left to stop the next drains
    [letter] = StatusDeadLetter.objects.all()
    assert (letter.statuses, letter.reason) == (1, "IntegrityError")
    [status] = letter.body["entry"][0]["changes"][0]["value"]["statuses"]
    assert status["id"] == "wamid.sent0"
    assert status["recipient_id"] == "***67"  # no number in clear
    assert "set aside" in caplog.text

    status_buffer.push(body(statuses_payload(sent[:1], "read")))
    assert webhook_services.statuses_apply_buffered() == 1
    assert statuses(sent) == ["read"] * 3


@pytest.mark.parametrize("callback_data", ["d:²", "d:٣", "d:" + "9" * 30, "d:-1", "d:"])
def test_callback_data_that_is_not_one_of_our_ids_is_ignored(buffer, sent, callback_data):
    payload = statuses_payload(sent, "delivered")
    for status in payload["entry"][0]["changes"][0]["value"]["statuses"]:
        status["biz_opaque_callback_data"] = callback_data
    status_buffer.push(body(payload))

    assert webhook_services.statuses_apply_buffered() == 1

    assert statuses(sent) == ["delivered"] * 3
    assert not StatusDeadLetter.objects.exists()


def test_an_error_code_past_32_bits_fails_the_row_without_a_code(buffer, sent):
    failed = status_update(
        wamid=sent[0].wamid, status="failed", timestamp=1764004005, recipient_id="39320"
    )
    failed["errors"] = [{"code": 2**31 + 5, "title": "Message undeliverable"}]
    status_buffer.push(body(webhook_body(statuses_value(failed))))

    assert webhook_services.statuses_apply_buffered() == 1

    row = Delivery.objects.get(pk=sent[0].pk)
    assert (row.status, row.error_code, row.error_title) == (
        "failed",
        None,
        "Message undeliverable",
    )
    assert not StatusDeadLetter.objects.exists()


# --- The fast path's limits: every webhook POST's body is read here, within them -------------


def chunked(body: bytes, size: int) -> tuple[dict, list[dict]]:
    """A request without a length, its body in chunks as a chunked upload arrives."""
    scope, _messages = request(body)
    scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"content-length"]
    scope["headers"].append((b"transfer-encoding", b"chunked"))
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    messages = [{"type": "http.request", "body": part, "more_body": True} for part in parts]
    messages[-1]["more_body"] = False
    return scope, messages


def test_a_chunked_body_past_the_limit_is_refused_once_the_limit_is_read(
    buffer, app, django_app, settings
):
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 1000
    scope, messages = chunked(b"x" * 100_000, 400)
    read = []

    async def receive():
        read.append(len(messages[0]["body"]))
        return messages.pop(0)

    sent = []

    async def send(message):
        sent.append(message)

    async_to_sync(app)(scope, receive, send)

    assert sent[0]["status"] == 413
    assert sum(read) <= 1000 + 400  # the limit, and the chunk that passed it
    assert django_app.bodies == []


def test_a_chunked_body_within_the_limit_is_buffered_or_reaches_django_with_its_length(
    buffer, app, django_app, sent
):
    assert async_to_sync(answer)(app, *chunked(body(statuses_payload(sent, "read")), 100)) == (
        200,
        b"",
    )
    assert statuses(sent) == ["read"] * 3

    seen = []

    async def django(scope, receive, send):
        seen.append(dict(scope["headers"]))
        await Django()(scope, receive, send)

    keyword = json.dumps(text_payload("Iscrivimi")).encode()
    app.django_app = django
    assert async_to_sync(answer)(app, *chunked(keyword, 100))[0] == 418
    assert seen[0][b"content-length"] == str(len(keyword)).encode()
    assert b"transfer-encoding" not in seen[0]


def stalling(messages: list[dict], release: asyncio.Event | None = None):
    """A client that sends the first part of its body, then nothing until released (if ever)."""
    release = release or asyncio.Event()

    async def receive():
        if len(messages) > 1:
            return messages.pop(0)
        await release.wait()
        return messages.pop(0)

    return receive


def test_a_body_that_stalls_is_answered_408_and_logged(
    buffer, app, django_app, sent, settings, caplog
):
    settings.WHATSAPP_WEBHOOK_BODY_TIMEOUT_SECONDS = 0.05
    scope, messages = request(body(statuses_payload(sent, "read")))
    answers = []

    async def send(message):
        answers.append(message)

    async_to_sync(app)(scope, stalling(messages), send)

    assert answers[0]["status"] == 408
    assert b"in time" in answers[1]["body"]
    assert "webhook body not received within 0.05 s" in caplog.text
    assert pending(buffer, settings) == 0 and django_app.bodies == []


def test_one_body_more_than_may_be_read_at_once_is_answered_503_with_retry_after(
    buffer, app, django_app, sent, settings
):
    settings.WHATSAPP_WEBHOOK_MAX_READING = 2
    payloads = [body(statuses_payload([d], "read")) for d in sent]

    async def three_at_once():
        release = asyncio.Event()
        slow = [request(p) for p in payloads[:2]]
        reading = [
            asyncio.ensure_future(app(scope, stalling(messages, release), _discard))
            for scope, messages in slow
        ]
        await asyncio.sleep(0)  # both are now reading their bodies
        refused = await answer(app, *request(payloads[2]))
        release.set()
        await asyncio.gather(*reading)
        return refused, await answer(app, *request(payloads[2]))

    refused, later = async_to_sync(three_at_once)()

    assert refused[0] == 503
    assert later == (200, b"")  # once the others are read, there is room again
    assert statuses(sent) == ["read"] * 3


async def _discard(message):
    pass


def test_a_request_signed_twice_is_refused_unread(buffer, app, django_app, sent, settings):
    payload = body(statuses_payload(sent, "read"))
    scope, messages = request(payload)
    # The fast path took the last header and Django joins them: neither must decide.
    scope["headers"].insert(0, (b"x-hub-signature-256", b"sha256=" + b"0" * 64))

    assert async_to_sync(answer)(app, scope, messages) == (
        400,
        b"More than one X-Hub-Signature-256.",
    )
    assert pending(buffer, settings) == 0 and django_app.bodies == []


def test_a_status_body_past_the_status_cap_is_left_to_django_unbuffered(
    buffer, app, django_app, sent, settings
):
    settings.WHATSAPP_STATUS_WEBHOOK_MAX_BYTES = 100
    payload = body(statuses_payload(sent, "read"))

    assert post(app, payload)[0] == 418  # the view answers it: 413 (test_edge.py)
    assert django_app.bodies == [payload]
    assert pending(buffer, settings) == 0


# --- Only our number --------------------------------------------------------------------------

OUR_NUMBER_ID = "106540352242922"
OTHER_NUMBER_ID = "108812345678901"  # the library's number, in the same business account


def other_number_statuses(deliveries) -> dict:
    """Meta's status webhook for another number of the business account (the stored fixture),
    naming the wamids of our own deliveries: only the number tells them apart."""
    payload = load_payload("status_other_number")
    template = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    payload["entry"][0]["changes"][0]["value"]["statuses"] = [
        {**template, "id": d.wamid, "status": "read"} for d in deliveries
    ]
    return payload


@pytest.fixture
def our_number(settings):
    settings.WHATSAPP_PHONE_NUMBER_ID = OUR_NUMBER_ID


def test_the_fast_path_neither_stores_nor_applies_statuses_for_another_number(
    buffer, app, django_app, sent, our_number, caplog
):
    caplog.set_level("DEBUG", logger="gateway.parsing")
    payload = body(other_number_statuses(sent))

    # Left to Django, whose view answers 200 with nothing to do (test below).
    assert post(app, payload) == (418, b"django")
    assert StatusWebhook.objects.count() == 0
    assert statuses(sent) == ["sent"] * 3
    assert [r.levelname for r in caplog.records if "another phone number" in r.message] == ["DEBUG"]


def test_the_view_answers_200_and_neither_stores_nor_applies_them(
    buffer, sent, post_webhook, our_number, monkeypatch
):
    stored = []
    monkeypatch.setattr(status_buffer, "push", lambda *bodies: stored.extend(bodies))

    assert post_webhook(other_number_statuses(sent)).status_code == 200
    assert stored == []
    assert statuses(sent) == ["sent"] * 3


def test_without_a_buffer_statuses_for_another_number_are_not_applied(
    sent, post_webhook, our_number
):
    assert post_webhook(other_number_statuses(sent)).status_code == 200
    assert statuses(sent) == ["sent"] * 3


def test_a_body_for_both_numbers_is_stored_without_the_other_s_statuses(
    buffer, app, django_app, sent, our_number, monkeypatch
):
    monkeypatch.setattr(webhook_tasks.statuses_apply_buffered, "apply_async", lambda *a, **kw: None)
    payload = statuses_payload(sent[:1], "delivered")
    payload["entry"][0]["changes"] += other_number_statuses(sent)["entry"][0]["changes"]

    assert post(app, body(payload)) == (200, b"")
    [stored] = StatusWebhook.objects.all()
    assert OTHER_NUMBER_ID not in bytes(stored.body).decode()
    webhook_tasks.statuses_apply_buffered()
    assert statuses(sent) == ["delivered", "sent", "sent"]


def test_with_no_number_configured_every_status_is_ours(buffer, app, sent, settings):
    # The console and the simulator name no number of their own: nothing is filtered.
    settings.WHATSAPP_PHONE_NUMBER_ID = ""
    assert post(app, body(other_number_statuses(sent))) == (200, b"")
    assert statuses(sent) == ["read"] * 3
