import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.backends.cloud import CloudBackend
from gateway.exceptions import GatewayAPIError, GatewayConfigurationError
from gateway.ratelimit import RateLimiterUnavailable
from gateway.types import ErrorKind, SendError, TemplateMessage, TextMessage
from tests.fakes.cloud_api import FakeCloudAPI
from tests.gateway.conftest import load_fixture

TOKEN = "EAAG-test-token"
NUMBER_ID = "106540352242922"
TEXT = TextMessage(to="+393331234567", body="Sei iscritto. Scrivi CANCELLAMI per uscire.")


@pytest.fixture
def backend(fake_api):
    with CloudBackend(api_url=fake_api.url, phone_number_id=NUMBER_ID, access_token=TOKEN) as gw:
        yield gw


def test_text_message_request(fake_api, backend):
    message = TextMessage(to="+393331234567", body="Già iscritto ✅", callback_data="d:42")
    result = backend.send(message)
    assert (result.ok, result.message_id, result.message) == (True, "wamid.1", message)
    [request] = fake_api.requests
    assert (request.method, request.path) == ("POST", f"/v23.0/{NUMBER_ID}/messages")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+393331234567",
        "type": "text",
        "text": {"body": "Già iscritto ✅", "preview_url": False},
        "biz_opaque_callback_data": "d:42",
    }


def test_template_message_request(fake_api, backend):
    message = TemplateMessage(
        to="+393331234567",
        name="avviso_comune",
        language="it",
        body_parameters=("strada chiusa",),
        header_parameters=("Roccabianca",),
        callback_data="d:7",
    )
    assert backend.send(message).message_id == "wamid.1"
    assert fake_api.requests[0].json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+393331234567",
        "type": "template",
        "template": {
            "name": "avviso_comune",
            "language": {"code": "it"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "Roccabianca"}]},
                {"type": "body", "parameters": [{"type": "text", "text": "strada chiusa"}]},
            ],
        },
        "biz_opaque_callback_data": "d:7",
    }


def test_template_without_parameters_has_no_components_and_no_callback(fake_api, backend):
    backend.send(TemplateMessage(to="+393331234567", name="hello", language="it"))
    body = fake_api.requests[0].json
    assert body["template"] == {"name": "hello", "language": {"code": "it"}, "components": []}
    assert "biz_opaque_callback_data" not in body


def test_the_message_id_is_read_from_meta_s_answer(fake_api, backend):
    fake_api.responder = lambda request: (200, load_fixture("send_response_ok.json"))
    assert backend.send(TEXT).message_id == (
        "wamid.HBgMMzkzMzMxMjM0NTY3FQIAERgSQUJDREVGMDEyMzQ1Njc4OQA="
    )


def test_send_messages_gives_one_result_per_message_in_order(fake_api, backend):
    messages = [TextMessage(to=f"+39333000000{i}", body=str(i)) for i in range(4)]
    fake_api.responder = lambda request: (
        (400, load_fixture("send_error_outside_window.json"))
        if request.json["to"].endswith("2")
        else None
    )
    results = backend.send_messages(messages)
    assert [r.message for r in results] == messages
    assert [r.message_id for r in results] == ["wamid.1", "wamid.2", None, "wamid.3"]
    assert results[2].error.kind is ErrorKind.RECIPIENT


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, 130429, ErrorKind.RATE_LIMITED),
        (400, 130429, ErrorKind.RATE_LIMITED),
        (401, 190, ErrorKind.FATAL),
        (400, 131047, ErrorKind.RECIPIENT),
        (400, 131056, ErrorKind.RETRY),
        (500, None, ErrorKind.RETRY),
        (503, 131016, ErrorKind.RETRY),
        (429, None, ErrorKind.RETRY),
    ],
)
def test_meta_errors_are_returned_classified(fake_api, backend, status, code, kind):
    fake_api.fail_next(status=status, code=code, details="why")
    result = backend.send(TEXT)
    assert not result.ok and result.message_id is None
    assert (result.error.kind, result.error.code) == (kind, code)
    assert result.error.details == "why"


def test_fixture_error_bodies_are_classified(fake_api, backend):
    fake_api.fail_next(body=load_fixture("send_error_token_expired.json"), status=401)
    fake_api.fail_next(body=load_fixture("send_error_rate_limit.json"), status=429)
    first, second = backend.send_messages([TEXT, TEXT])
    assert first.error == SendError(
        ErrorKind.FATAL, 190, "Error validating access token: Session has expired."
    )
    assert (second.error.kind, second.error.code) == (ErrorKind.RATE_LIMITED, 130429)


def test_an_html_error_page_is_classified_by_status(fake_api, backend):
    fake_api.fail_next(status=502, body=b"<html>Bad Gateway</html>")
    result = backend.send(TEXT)
    assert result.error == SendError(ErrorKind.RETRY, None, "HTTP 502")


def test_an_accepted_answer_without_message_id_is_retried(fake_api, backend):
    fake_api.responder = lambda request: (200, {"messages": []})
    assert backend.send(TEXT).error.kind is ErrorKind.RETRY


def test_connection_refused_is_retried():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = CloudBackend(
        api_url=f"http://127.0.0.1:{port}", phone_number_id=NUMBER_ID, access_token=TOKEN
    )
    result = backend.send(TEXT)
    backend.close()
    assert (result.error.kind, result.error.code) == (ErrorKind.RETRY, None)
    assert result.error.title.startswith("ConnectionError")


def test_a_read_timeout_leaves_the_outcome_unknown_since_meta_may_have_accepted_it():
    with (
        FakeCloudAPI(latency=0.5) as fake,
        CloudBackend(
            api_url=fake.url, phone_number_id=NUMBER_ID, access_token=TOKEN, timeout=0.05
        ) as backend,
    ):
        result = backend.send(TEXT)
    assert (result.error.kind, result.error.code) == (ErrorKind.UNKNOWN, None)
    assert "Timeout" in result.error.title
    assert not result.error.retryable


def test_a_refused_connection_sent_nothing_and_is_retried():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nobody listens there once closed
    with CloudBackend(
        api_url=f"http://127.0.0.1:{port}", phone_number_id=NUMBER_ID, access_token=TOKEN
    ) as backend:
        result = backend.send(TEXT)
    assert (result.error.kind, result.error.code) == (ErrorKind.RETRY, None)


def test_a_send_withdrawn_before_its_request_never_reaches_meta(fake_api, backend):
    result = backend.send(TEXT, before_request=lambda: False)
    assert result.error.kind == ErrorKind.NOT_SENT
    assert fake_api.requests == []


def test_without_its_rate_limiter_nothing_is_sent(fake_api, backend):
    class Down:
        def acquire(self, *, bulk: bool = False) -> None:
            raise RateLimiterUnavailable("ConnectionError")

        def slow_down(self, seconds: float) -> None:
            raise RateLimiterUnavailable("ConnectionError")

    backend.limiter = Down()
    result = backend.send(TEXT)
    assert (result.error.kind, result.error.retryable) == (ErrorKind.NOT_SENT, True)
    assert fake_api.requests == []


def test_one_connection_is_reused_for_several_sends(fake_api, backend):
    results = backend.send_messages([TEXT] * 5) + [backend.send(TEXT) for _ in range(5)]
    assert all(result.ok for result in results)
    assert len(fake_api.requests) == 10
    assert fake_api.connections == 1


def test_concurrent_sends_share_a_bounded_pool(fake_api):
    fake_api.latency = 0.01
    with (
        CloudBackend(
            api_url=fake_api.url, phone_number_id=NUMBER_ID, access_token=TOKEN, pool_size=4
        ) as backend,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        results = list(pool.map(backend.send, [TEXT] * 40))
    assert len({result.message_id for result in results}) == 40
    assert 1 <= fake_api.connections <= 4


def test_close_then_send_opens_a_new_session(fake_api, backend):
    backend.send(TEXT)
    backend.close()
    assert backend.send(TEXT).ok
    assert fake_api.connections == 2


def test_sends_go_through_the_proxy_the_environment_names(fake_api, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, fake_api.url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    options = {"phone_number_id": NUMBER_ID, "access_token": TOKEN}
    with CloudBackend(api_url="http://graph.example.invalid", **options) as gateway:
        assert gateway.send(TEXT).ok
        assert gateway.send(TEXT).ok

    # The host does not exist: only the proxy could have carried them.
    assert [r.headers["Host"] for r in fake_api.requests] == ["graph.example.invalid"] * 2


def test_nothing_connects_before_the_first_send(fake_api):
    CloudBackend(api_url=fake_api.url, phone_number_id=NUMBER_ID, access_token=TOKEN)
    assert fake_api.connections == 0


@pytest.mark.parametrize(
    "options",
    [
        {"phone_number_id": NUMBER_ID},
        {"access_token": TOKEN},
        {"phone_number_id": NUMBER_ID, "access_token": TOKEN, "api_url": "graph.facebook.com"},
        {"phone_number_id": NUMBER_ID, "access_token": TOKEN, "api_version": ""},
        {"phone_number_id": NUMBER_ID, "access_token": TOKEN, "pool_size": 0},
        {"phone_number_id": NUMBER_ID, "access_token": TOKEN, "timeout": 0},
    ],
)
def test_misconfiguration_raises_at_construction(options):
    with pytest.raises(GatewayConfigurationError):
        CloudBackend(**options)


def test_unexpected_errors_raise_unless_fail_silently(fake_api):
    options = {"phone_number_id": NUMBER_ID, "access_token": TOKEN, "api_url": "http://[::1"}
    with pytest.raises(ValueError):
        CloudBackend(**options).send(TEXT)
    result = CloudBackend(fail_silently=True, **options).send(TEXT)
    assert result.error.kind is ErrorKind.FATAL


def test_anything_but_a_message_is_refused(backend):
    with pytest.raises(TypeError):
        backend.send("+393331234567")


def test_list_templates_follows_the_pages(fake_api, backend):
    fake_api.templates = load_fixture("templates_list.json")["data"] * 2
    templates = backend.list_templates("102290129340398")
    assert len(templates) == 6
    assert templates[0] == {
        "id": "1234567890",
        "name": "avviso_comune",
        "language": "it",
        "category": "UTILITY",
        "status": "APPROVED",
        "header": "Comune di {{1}}",
        "body": "Avviso: {{1}}\n\nPer non ricevere più messaggi scrivi CANCELLAMI.",
    }
    assert templates[1]["header"] is None
    assert [t["name"] for t in templates[2:]] == [
        "bozza",
        "avviso_comune",
        "eventi_comune",
        "bozza",
    ]
    requests = fake_api.requests
    assert [r.path for r in requests] == ["/v23.0/102290129340398/message_templates"] * 3
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in requests)
    assert [r.query.get("after") for r in requests] == [None, ["2"], ["4"]]


def test_list_templates_raises_when_meta_refuses(fake_api, backend):
    fake_api.fail_next(status=401, code=190, message="expired")
    with pytest.raises(GatewayAPIError) as raised:
        backend.list_templates("102290129340398")
    assert (raised.value.error.kind, raised.value.error.code) == (ErrorKind.FATAL, 190)


def test_template_paging_never_takes_the_token_to_another_host(fake_api, backend):
    """Issue 13, finding 19: a `paging.next` elsewhere would receive the access token."""
    elsewhere = "http://127.0.0.2:9/v23.0/102290129340398/message_templates?after=2"
    fake_api.fail_next(status=200, body={"data": [], "paging": {"next": elsewhere}})

    with pytest.raises(GatewayAPIError) as raised:
        backend.list_templates("102290129340398")

    assert raised.value.error.title == "template paging leaves the API"
    assert len(fake_api.requests) == 1
