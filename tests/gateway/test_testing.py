"""The builders of Meta-shaped JSON make what Meta sends: the stored samples, given the same
values, and bodies the gateway's parser reads back into the messages and statuses put in."""

from datetime import UTC, datetime

from gateway import InboundKind, StatusError, carries_only_statuses, parse_webhook
from gateway.testing import (
    error_answer,
    errors_value,
    inbound_text,
    send_answer,
    status_update,
    statuses_value,
    webhook_body,
    webhook_error,
)
from tests.gateway.conftest import load_fixture

AT = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)


def test_an_inbound_text_is_the_stored_sample_and_parses_back():
    body = webhook_body(
        inbound_text(
            wa_id="393331234567",
            text="Iscrivimi",
            message_id="wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhggQTE2RjBFQjk2",
            timestamp=1764000000,
        )
    )

    assert body == load_fixture("inbound_text_iscrivimi.json")
    events = parse_webhook(body)
    assert events.statuses == [] and events.errors == []
    [message] = events.messages
    assert (message.kind, message.text, message.phone) == (
        InboundKind.TEXT,
        "Iscrivimi",
        "+393331234567",
    )
    assert (message.timestamp, message.profile_name) == (AT, "Maria Rossi")
    assert message.phone_number_id == "106540352242922"


def test_several_values_make_one_batched_post():
    body = webhook_body(
        inbound_text(
            wa_id="393330000001",
            text="iscrivimi",
            message_id="wamid.BATCH1",
            timestamp=1764003000,
            profile_name="A",
        ),
        inbound_text(
            wa_id="393330000002",
            text="Iscriviti per favore",
            message_id="wamid.BATCH2",
            timestamp=1764003001,
            profile_name="B",
        ),
    )

    assert body == load_fixture("inbound_batch_two_messages.json")
    assert [m.message_id for m in parse_webhook(body).messages] == ["wamid.BATCH1", "wamid.BATCH2"]


def test_a_timestamp_may_be_a_datetime_and_defaults_to_now():
    [given] = parse_webhook(
        webhook_body(inbound_text(wa_id="393331234567", text="x", message_id="w.1", timestamp=AT))
    ).messages
    before = datetime.now(UTC).replace(microsecond=0)
    [now] = parse_webhook(
        webhook_body(inbound_text(wa_id="393331234567", text="x", message_id="w.2"))
    ).messages

    assert given.timestamp == AT
    assert before <= now.timestamp <= datetime.now(UTC)


def test_statuses_with_callback_data_and_pricing_are_the_stored_sample():
    common = {"wamid": "wamid.HBgMBROADCAST1", "recipient_id": "393331234567"}
    body = webhook_body(
        statuses_value(
            status_update(**common, status="read", timestamp=1764004010, callback_data="d:42"),
            status_update(
                **common,
                status="sent",
                timestamp=1764004001,
                callback_data="d:42",
                category="utility",
            ),
            status_update(**common, status="delivered", timestamp=1764004005, callback_data="d:42"),
        )
    )

    assert body == load_fixture("status_sent_delivered_read.json")
    assert carries_only_statuses(body)
    events = parse_webhook(body)
    assert events.messages == [] and events.errors == []
    assert [(s.status, s.recipient, s.callback_data) for s in events.statuses] == [
        ("read", "+393331234567", "d:42"),
        ("sent", "+393331234567", "d:42"),
        ("delivered", "+393331234567", "d:42"),
    ]


def test_a_failed_status_carries_its_error_as_the_stored_sample():
    body = webhook_body(
        statuses_value(
            status_update(
                wamid="wamid.HBgMBROADCAST3",
                status="failed",
                timestamp=1764004200,
                recipient_id="393338888888",
                errors=(
                    webhook_error(
                        131050,
                        "Unable to deliver the message. This recipient has chosen to stop "
                        "receiving marketing messages on WhatsApp from your business.",
                        message="Unable to deliver the message.",
                        details="The user has opted out of marketing messages.",
                    ),
                ),
            )
        )
    )

    assert body == load_fixture("status_failed_marketing_opt_out.json")
    [status] = parse_webhook(body).statuses
    assert status.status == "failed" and status.callback_data is None
    assert [(e.code, e.details) for e in status.errors] == [
        (131050, "The user has opted out of marketing messages.")
    ]


def test_a_conversation_block_leaves_the_status_as_read():
    plain = status_update(wamid="wamid.1", status="sent", timestamp=1764004001, category="service")
    with_conversation = status_update(
        wamid="wamid.1",
        status="sent",
        timestamp=1764004001,
        category="service",
        conversation_id="c0ffee",
    )

    assert with_conversation["conversation"] == {"id": "c0ffee", "origin": {"type": "service"}}
    assert with_conversation["pricing"]["category"] == "service"
    assert (
        parse_webhook(webhook_body(statuses_value(with_conversation))).statuses
        == parse_webhook(webhook_body(statuses_value(plain))).statuses
    )


def test_an_account_error_is_the_stored_sample():
    body = webhook_body(
        errors_value(webhook_error(131000, "Something went wrong", details="Unknown error"))
    )

    assert body == load_fixture("account_error.json")
    assert not carries_only_statuses(body)
    assert parse_webhook(body).errors == [
        StatusError(code=131000, title="Something went wrong", details="Unknown error")
    ]


def test_the_answers_to_a_send_are_the_stored_samples():
    wamid = "wamid.HBgMMzkzMzMxMjM0NTY3FQIAERgSQUJDREVGMDEyMzQ1Njc4OQA="

    assert send_answer(wamid, to="+393331234567") == load_fixture("send_response_ok.json")
    assert send_answer("wamid.1") == {
        "messaging_product": "whatsapp",
        "messages": [{"id": "wamid.1"}],
    }
    assert error_answer(
        130429,
        "(#130429) Rate limit hit",
        details="Cloud API message throughput has been reached.",
        fbtrace_id="AbCdEf123",
    ) == load_fixture("send_error_rate_limit.json")
    assert error_answer(None, "Service Unavailable") == {
        "error": {"message": "Service Unavailable", "type": "OAuthException"}
    }
