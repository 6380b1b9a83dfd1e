"""The inbound edge against what is not quite Meta: text no database can store, bodies too
large, too slow or too many at once, a request signed twice. Each is refused with a reason (or
handled), never a 500, and nothing is read beyond the limit."""

import json

import pytest

import gateway
from gateway.testing import status_update, statuses_value, webhook_body
from subscribers.models import InboundMessage, Subscriber
from tests.conftest import text_payload

pytestmark = pytest.mark.django_db

PHONE = "+393331234567"


@pytest.mark.parametrize("escaped", [r"Iscri\u0000vimi", r"Iscrivimi \ud83d", r"\udc00Iscrivimi"])
def test_a_keyword_with_nul_or_half_an_emoji_is_answered_and_handled(
    post_webhook, privacy_notice, escaped
):
    # Sent as JSON escapes, as Meta would; a 500 here made Meta redeliver it for days.
    body = json.dumps(text_payload("KEYWORD")).replace("KEYWORD", escaped).encode()

    assert post_webhook(body).status_code == 200
    assert Subscriber.objects.get(phone=PHONE).status == Subscriber.Status.ACTIVE
    assert InboundMessage.objects.get().intent == InboundMessage.Intent.SUBSCRIBE


class Unreadable:
    """A request body that must not be read."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def post_unread(client, **environ):
    """A POST whose body the view must refuse without reading."""
    return client.generic(
        "POST",
        "/webhooks/whatsapp/",
        content_type="application/json",
        **{"wsgi.input": Unreadable(), **environ},
    )


def test_a_declared_length_past_the_limit_is_refused_unread(client, settings):
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 1000

    response = post_unread(client, CONTENT_LENGTH="1001")

    assert (response.status_code, response.content) == (413, b"Body too large.")


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "٣"])
def test_an_invalid_declared_length_is_refused_unread(client, length):
    response = post_unread(client, CONTENT_LENGTH=length)

    assert (response.status_code, response.content) == (400, b"Invalid Content-Length.")


def test_a_chunked_body_is_refused_unread_under_wsgi(client):
    # A WSGI server hands Django no length to read it to; the ASGI fast path reads it itself.
    response = post_unread(client, HTTP_TRANSFER_ENCODING="chunked")

    assert (response.status_code, response.content) == (411, b"Content-Length required.")


def test_a_request_signed_twice_is_refused_unread(client, settings):
    body = json.dumps(text_payload("Iscrivimi")).encode()
    genuine = gateway.sign(body, settings.WHATSAPP_APP_SECRET)

    # The server joins two headers of one name with a comma.
    response = post_unread(
        client, CONTENT_LENGTH=str(len(body)), HTTP_X_HUB_SIGNATURE_256=f"{genuine},{genuine}"
    )

    assert (response.status_code, response.content) == (400, b"More than one X-Hub-Signature-256.")
    assert not Subscriber.objects.exists()


def test_a_status_webhook_past_the_status_cap_is_refused(post_webhook, settings, caplog):
    statuses = webhook_body(
        statuses_value(status_update(wamid="wamid.x", status="read", timestamp=1764004005))
    )
    settings.WHATSAPP_STATUS_WEBHOOK_MAX_BYTES = len(json.dumps(statuses)) - 1

    response = post_webhook(statuses)

    assert (response.status_code, response.content) == (413, b"Status webhook too large.")
    assert "status webhook of" in caplog.text


def test_a_message_webhook_of_that_size_is_handled(post_webhook, privacy_notice, settings):
    payload = text_payload("Iscrivimi")
    settings.WHATSAPP_STATUS_WEBHOOK_MAX_BYTES = len(json.dumps(payload)) - 1

    assert post_webhook(payload).status_code == 200
    assert Subscriber.objects.get(phone=PHONE).status == Subscriber.Status.ACTIVE
