"""The webhook as Meta and as an attacker meet it."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import gateway
from subscribers.models import ConsentRecord, InboundMessage, Subscriber
from tests.conftest import as_just_sent, load_payload, text_payload

pytestmark = pytest.mark.django_db

PHONE = "+393331234567"


def test_verification_handshake_echoes_the_challenge(client, settings):
    response = client.get(
        "/webhooks/whatsapp/",
        {
            "hub.mode": "subscribe",
            "hub.verify_token": settings.WHATSAPP_VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "tests-verify-token", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_verification_handshake_refuses_a_wrong_token(client, params):
    assert client.get("/webhooks/whatsapp/", params).status_code == 403


def test_iscrivimi_subscribes_with_consent_and_confirms(
    post_webhook, privacy_notice, whatsapp_outbox, django_capture_on_commit_callbacks
):
    payload = as_just_sent(load_payload("inbound_text_iscrivimi"))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(payload)

    assert response.status_code == 200
    subscriber = Subscriber.objects.get(phone=PHONE)
    assert subscriber.status == Subscriber.Status.ACTIVE
    consent = subscriber.consents.get()
    assert consent.action == ConsentRecord.Action.GRANTED
    assert consent.channel == ConsentRecord.Channel.WHATSAPP
    assert consent.notice == privacy_notice
    sent_at = int(payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"])
    assert consent.occurred_at == datetime.fromtimestamp(sent_at, UTC)
    assert consent.evidence == {
        "message_id": "wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhggQTE2RjBFQjk2",
        "text": "Iscrivimi",
    }
    [reply] = whatsapp_outbox
    assert reply.to == PHONE
    assert "Comune di Esempio" in reply.body
    assert "/informativa-privacy/" in reply.body
    assert "Cancellami" in reply.body


def test_cancellami_reverses_it(
    post_webhook, privacy_notice, whatsapp_outbox, django_capture_on_commit_callbacks
):
    post_webhook(as_just_sent(load_payload("inbound_text_iscrivimi")))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(as_just_sent(load_payload("inbound_text_cancellami_accents")))

    assert response.status_code == 200
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert list(subscriber.consents.values_list("action", flat=True)) == ["granted", "withdrawn"]
    assert "Iscrivimi" in whatsapp_outbox[-1].body  # how to come back


def test_a_redelivered_message_is_handled_once(
    post_webhook, privacy_notice, whatsapp_outbox, django_capture_on_commit_callbacks
):
    body = json.dumps(as_just_sent(load_payload("inbound_text_iscrivimi"))).encode()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assert post_webhook(body).status_code == 200

    assert ConsentRecord.objects.count() == 1
    assert InboundMessage.objects.count() == 1
    assert len(whatsapp_outbox) == 1


@pytest.mark.parametrize(
    ("signature", "why"),
    [
        (None, "missing"),
        ("sha256=" + "0" * 64, "wrong"),
        ("sha1=abc", "other algorithm"),
        ("sha256=zz", "malformed"),
        ("", "empty"),
    ],
)
def test_unsigned_or_wrongly_signed_bodies_are_refused(
    post_webhook, privacy_notice, signature, why
):
    response = post_webhook(
        as_just_sent(load_payload("inbound_text_iscrivimi")), signature=signature
    )

    assert response.status_code == 403, why
    assert not Subscriber.objects.exists()
    assert not InboundMessage.objects.exists()


def test_a_signature_of_another_body_is_refused(post_webhook, privacy_notice, settings):
    genuine = json.dumps(text_payload("Iscrivimi", wamid="wamid.a")).encode()
    forged = json.dumps(text_payload("Iscrivimi", wamid="wamid.b")).encode()
    response = post_webhook(forged, signature=gateway.sign(genuine, settings.WHATSAPP_APP_SECRET))

    assert response.status_code == 403
    assert not Subscriber.objects.exists()


def test_the_signature_covers_the_raw_bytes_with_accents(post_webhook, privacy_notice):
    # Meta escapes nothing: hashing re-serialised JSON would break on "à" and "/".
    payload = text_payload("Iscrìvimi 🙏")
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Niccolò / @ML"
    body = json.dumps(payload, ensure_ascii=False)
    assert post_webhook(body.encode()).status_code == 200
    assert Subscriber.objects.filter(status="active").exists()


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[" * 100_000])
def test_malformed_json_is_a_400(post_webhook, body):
    response = post_webhook(body)

    assert response.status_code == 400
    assert b"JSON" in response.content


def test_an_oversized_body_is_refused_before_anything_else(post_webhook, settings):
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 1000
    response = post_webhook(b"{" + b" " * 2000 + b"}")

    assert response.status_code == 413


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "page", "entry": [{"changes": [{"field": "feed", "value": {}}]}]},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "calls"}]}]},
        {"object": "whatsapp_business_account", "entry": "nonsense"},
        [1, 2, 3],
        "just a string",
        None,
    ],
)
def test_unknown_objects_and_fields_are_ignored(post_webhook, payload):
    assert post_webhook(payload if payload is not None else b"null").status_code == 200
    assert not InboundMessage.objects.exists()


def test_status_updates_are_accepted(post_webhook):
    assert post_webhook(as_just_sent(load_payload("status_sent_delivered_read"))).status_code == 200


def test_a_batch_of_two_messages_handles_both(post_webhook, privacy_notice):
    assert post_webhook(as_just_sent(load_payload("inbound_batch_two_messages"))).status_code == 200
    assert InboundMessage.objects.count() == 2


def test_only_post_and_get(client):
    assert client.put("/webhooks/whatsapp/").status_code == 405


@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "object",
                        "entry",
                        "changes",
                        "field",
                        "value",
                        "messages",
                        "statuses",
                        "from",
                        "id",
                        "timestamp",
                        "type",
                        "text",
                        "body",
                        "errors",
                        "code",
                        "x",
                    ]
                )
                | st.text(max_size=5),
                children,
                max_size=5,
            )
        ),
        max_leaves=30,
    )
)
@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_no_generated_body_makes_a_500(post_webhook, privacy_notice, payload):
    body = json.dumps(payload, allow_nan=True).encode()
    assert post_webhook(body).status_code in (200, 400)
    assert post_webhook(body, signature=None).status_code == 403


@given(text=st.text(max_size=200), seconds=st.integers(min_value=-(10**12), max_value=10**13))
@hypothesis_settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_no_generated_message_makes_a_500(post_webhook, privacy_notice, text, seconds):
    payload = text_payload(text, wamid=f"wamid.{seconds}.{hash(text)}")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(seconds)
    assert post_webhook(payload).status_code == 200


def test_a_keyword_costs_a_bounded_number_of_queries(
    post_webhook, privacy_notice, django_assert_max_num_queries
):
    # 21: one of them asks whether the sender was erased since (their tombstone), one whether
    # they left that number since (WhatsApp's notice of their new one).
    with django_assert_max_num_queries(21):
        post_webhook(text_payload("Iscrivimi", at=datetime.now(UTC) - timedelta(seconds=1)))


def test_button_and_list_replies_count_as_text(post_webhook, privacy_notice):
    # "Cancellami" on a template button
    post_webhook(as_just_sent(load_payload("inbound_button_reply")))
    assert InboundMessage.objects.get().intent == InboundMessage.Intent.UNSUBSCRIBE

    # then "Iscrivimi" from a list
    post_webhook(as_just_sent(load_payload("inbound_interactive_reply")))
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE


def test_keywords_are_configurable(post_webhook, privacy_notice, settings):
    settings.KEYWORDS_SUBSCRIBE = ["Aderisco"]
    post_webhook(text_payload("aderisco!", wamid="wamid.custom"))
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE


# --- Only our number --------------------------------------------------------------------------


def test_a_keyword_to_another_number_of_the_account_is_ignored_never_answered(
    post_webhook, privacy_notice, whatsapp_outbox, settings, caplog, run_on_commit
):
    # The library's number shares the comune's business account: Meta sends us its traffic.
    settings.WHATSAPP_PHONE_NUMBER_ID = "106540352242922"
    caplog.set_level("DEBUG")
    with run_on_commit():
        response = post_webhook(as_just_sent(load_payload("inbound_text_other_number")))

    assert response.status_code == 200
    assert (InboundMessage.objects.count(), Subscriber.objects.count()) == (0, 0)
    assert whatsapp_outbox == []
    ignored = [r for r in caplog.records if "another phone number" in r.getMessage()]
    assert [r.levelname for r in ignored] == ["DEBUG"]
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]


def test_the_same_keyword_to_our_number_is_answered(
    post_webhook, privacy_notice, whatsapp_outbox, settings, run_on_commit
):
    settings.WHATSAPP_PHONE_NUMBER_ID = "108812345678901"  # now the library's is ours
    with run_on_commit():
        post_webhook(as_just_sent(load_payload("inbound_text_other_number")))

    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE
    assert [reply.to for reply in whatsapp_outbox] == [PHONE]
