import copy
from datetime import UTC, datetime

import pytest

from gateway.parsing import addressed_to, carries_only_statuses, e164, parse_webhook
from gateway.types import InboundKind, MarketingPreference, StatusError
from tests.gateway.conftest import FIXTURES, load_fixture

OUR_NUMBER_ID = "106540352242922"


def only_message(name):
    events = parse_webhook(load_fixture(name))
    assert events.statuses == [] and events.errors == []
    [message] = events.messages
    return message


def test_every_inbound_fixture_yields_its_messages():
    for path in sorted(FIXTURES.glob("inbound_*.json")):
        events = parse_webhook(load_fixture(path.name))
        assert events.messages, path.name


def test_text_message():
    message = only_message("inbound_text_iscrivimi.json")
    assert message.message_id == "wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhggQTE2RjBFQjk2"
    assert message.timestamp == datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
    assert message.timestamp.tzinfo is UTC
    assert (message.kind, message.wa_type, message.text) == (InboundKind.TEXT, "text", "Iscrivimi")
    assert message.phone == "+393331234567"
    assert message.user_id is None
    assert message.profile_name == "Maria Rossi"
    assert message.phone_number_id == OUR_NUMBER_ID
    assert message.new_phone is None


def test_text_is_kept_exactly_as_typed():
    message = only_message("inbound_text_cancellami_accents.json")
    assert message.text == "  CANCELLAMI!! 🙏 "
    assert message.timestamp == datetime.fromtimestamp(1764000600, tz=UTC)


def test_template_button_reply_carries_its_text():
    message = only_message("inbound_button_reply.json")
    assert (message.kind, message.wa_type, message.text) == (
        InboundKind.TEXT,
        "button",
        "Cancellami",
    )
    assert message.phone == "+393331234567"


def test_interactive_reply_carries_its_title():
    message = only_message("inbound_interactive_reply.json")
    assert (message.kind, message.wa_type, message.text) == (
        InboundKind.TEXT,
        "interactive",
        "Iscrivimi",
    )


def test_list_reply_carries_its_title():
    payload = load_fixture("inbound_interactive_reply.json")
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    raw["interactive"] = {"type": "list_reply", "list_reply": {"id": "h", "title": "Aiuto"}}
    [message] = parse_webhook(payload).messages
    assert (message.kind, message.text) == (InboundKind.TEXT, "Aiuto")


def test_image_is_media_without_text():
    message = only_message("inbound_image.json")
    assert (message.kind, message.wa_type, message.text) == (InboundKind.MEDIA, "image", None)
    assert message.phone == "+393339876543"
    assert message.profile_name == "Luca"


def test_reaction():
    message = only_message("inbound_reaction.json")
    assert (message.kind, message.wa_type, message.text) == (InboundKind.REACTION, "reaction", None)


def test_unsupported_type_is_other():
    message = only_message("inbound_unsupported.json")
    assert (message.kind, message.wa_type) == (InboundKind.OTHER, "unsupported")
    assert message.message_id == "wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhggRzdD"


def test_number_change_gives_the_new_number():
    message = only_message("inbound_system_number_changed.json")
    assert (message.kind, message.wa_type) == (InboundKind.NUMBER_CHANGED, "system")
    assert message.phone == "+393331234567"
    assert message.new_phone == "+393331112223"
    assert (message.user_id, message.new_user_id, message.text) == (None, None, None)


def test_number_change_gives_the_old_and_new_user_ids():
    # Since business-scoped user ids, a new number means a new id: both come with the notice.
    message = only_message("inbound_system_number_changed_user_ids.json")
    assert message.kind == InboundKind.NUMBER_CHANGED
    assert (message.phone, message.user_id) == ("+393331234567", "IT.1502576394655843")
    assert (message.new_phone, message.new_user_id) == ("+393339876543", "IT.1502981273645510")


def _system_payload(system: dict, **message) -> dict:
    payload = load_fixture("inbound_system_number_changed.json")
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    raw["system"] = system
    raw.update(message)
    return payload


def test_the_old_user_id_may_come_from_the_notice_alone():
    payload = _system_payload(
        {"type": "user_changed_number", "wa_id": "393339876543", "previous_user_id": "IT.7"}
    )
    [message] = parse_webhook(payload).messages
    assert (message.user_id, message.new_phone) == ("IT.7", "+393339876543")


def test_a_number_change_in_older_versions_shapes():
    payload = _system_payload({"type": "customer_changed_number", "new_wa_id": "393339876543"})
    [message] = parse_webhook(payload).messages
    assert (message.kind, message.new_phone) == (InboundKind.NUMBER_CHANGED, "+393339876543")


@pytest.mark.parametrize(
    "system",
    [
        {"type": "user_changed_user_id", "user_id": "IT.8", "previous_user_id": "IT.7"},
        {"type": "user_changed_number", "wa_id": "not a number"},
        {"type": "user_changed_number"},
        {"type": "customer_identity_changed", "identity": "abc", "wa_id": "393339876543"},
    ],
)
def test_other_system_notices_move_nobody(system):
    [message] = parse_webhook(_system_payload(system)).messages
    assert (message.kind, message.new_phone, message.new_user_id) == (
        InboundKind.SYSTEM,
        None,
        None,
    )


def test_a_batch_gives_every_change_in_order():
    events = parse_webhook(load_fixture("inbound_batch_two_messages.json"))
    assert [(m.message_id, m.phone, m.text, m.profile_name) for m in events.messages] == [
        ("wamid.BATCH1", "+393330000001", "iscrivimi", "A"),
        ("wamid.BATCH2", "+393330000002", "Iscriviti per favore", "B"),
    ]


def test_statuses_are_given_in_meta_s_order():
    events = parse_webhook(load_fixture("status_sent_delivered_read.json"))
    assert events.messages == [] and events.errors == []
    assert [(s.status, s.timestamp.timestamp()) for s in events.statuses] == [
        ("read", 1764004010),
        ("sent", 1764004001),
        ("delivered", 1764004005),
    ]
    for status in events.statuses:
        assert status.message_id == "wamid.HBgMBROADCAST1"
        assert status.recipient == "+393331234567"
        assert status.callback_data == "d:42"
        assert status.errors == ()


def test_failed_status_carries_its_error():
    [status] = parse_webhook(load_fixture("status_failed_undeliverable.json")).statuses
    assert (status.message_id, status.status, status.recipient, status.callback_data) == (
        "wamid.HBgMBROADCAST2",
        "failed",
        "+393339999999",
        "d:43",
    )
    assert status.errors == (
        StatusError(131026, "Message undeliverable", "Message Undeliverable."),
    )


def test_failed_status_without_callback_data():
    [status] = parse_webhook(load_fixture("status_failed_marketing_opt_out.json")).statuses
    assert status.callback_data is None
    [error] = status.errors
    assert error.code == 131050
    assert error.title == "Unable to deliver the message."
    assert error.details == "The user has opted out of marketing messages."


def test_account_level_errors():
    events = parse_webhook(load_fixture("account_error.json"))
    assert events.messages == [] and events.statuses == []
    assert events.errors == [StatusError(131000, "Something went wrong", "Unknown error")]


@pytest.mark.parametrize(
    "name",
    [
        "send_response_ok.json",
        "send_error_rate_limit.json",
        "templates_list.json",
    ],
)
def test_payloads_that_are_not_webhooks_give_nothing(name):
    events = parse_webhook(load_fixture(name))
    assert (events.messages, events.statuses, events.errors) == ([], [], [])


def test_every_fixture_parses():
    for path in FIXTURES.glob("*.json"):
        parse_webhook(load_fixture(path.name))


def _text_payload(**changes):
    payload = load_fixture("inbound_text_iscrivimi.json")
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return payload


def test_a_username_user_without_phone_number_is_kept_by_user_id():
    payload = _text_payload(**{"from": None, "from_user_id": "IT.1502576394655843"})
    payload["entry"][0]["changes"][0]["value"]["contacts"] = [
        {"profile": {"name": "Maria"}, "user_id": "IT.1502576394655843"}
    ]
    [message] = parse_webhook(payload).messages
    assert (message.phone, message.user_id, message.profile_name) == (
        None,
        "IT.1502576394655843",
        "Maria",
    )


def test_the_user_id_may_come_from_the_contact():
    payload = _text_payload()
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = "IT.42"
    [message] = parse_webhook(payload).messages
    assert (message.phone, message.user_id) == ("+393331234567", "IT.42")


@pytest.mark.parametrize(
    "changes",
    [
        {"from": None},
        {"from": "+393331234567"},
        {"from": "12345"},
        {"from": "1234567890123456"},
        {"from": "٣٩٣٣٣١٢٣٤٥٦٧"},  # Arabic-Indic digits are digits, not ASCII ones
        {"id": None},
        {"id": ""},
        {"id": "w" * 257},
        {"id": 12345},
        {"timestamp": None},
        {"timestamp": "yesterday"},
        {"timestamp": "-5"},
        {"timestamp": "1e9"},
        {"timestamp": "9" * 13},
        {"timestamp": "999999999999"},  # past datetime's year 9999
        {"timestamp": 10**400},
        {"timestamp": 1.5},
        {"timestamp": True},
    ],
)
def test_a_message_that_cannot_be_trusted_is_skipped(changes):
    assert parse_webhook(_text_payload(**changes)).messages == []


def test_a_numeric_timestamp_is_accepted():
    [message] = parse_webhook(_text_payload(timestamp=1764000000)).messages
    assert message.timestamp == datetime(2025, 11, 24, 16, 0, tzinfo=UTC)


def test_one_bad_message_does_not_hide_the_others():
    payload = load_fixture("inbound_batch_two_messages.json")
    changes = payload["entry"][0]["changes"]
    changes[0]["value"]["messages"].insert(0, {"id": None, "garbage": [1, 2]})
    changes.insert(0, "not a change")
    changes.insert(0, {"field": "account_update", "value": {"messages": changes[1]["value"]}})
    payload["entry"].append({"changes": None})
    assert [m.message_id for m in parse_webhook(payload).messages] == [
        "wamid.BATCH1",
        "wamid.BATCH2",
    ]


def test_other_objects_are_ignored():
    payload = copy.deepcopy(load_fixture("inbound_text_iscrivimi.json"))
    payload["object"] = "page"
    assert parse_webhook(payload).messages == []


def test_wrong_types_inside_a_message_leave_the_optional_fields_empty():
    payload = _text_payload(text={"body": ["Iscrivimi"]}, type=7)
    payload["entry"][0]["changes"][0]["value"]["metadata"] = "x"
    payload["entry"][0]["changes"][0]["value"]["contacts"] = [{"profile": None, "wa_id": 3}]
    [message] = parse_webhook(payload).messages
    assert (message.kind, message.wa_type, message.text) == (InboundKind.OTHER, "unknown", None)
    assert (message.profile_name, message.phone_number_id) == (None, None)


def test_status_without_a_usable_recipient_keeps_the_status():
    payload = load_fixture("status_failed_undeliverable.json")
    raw = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    raw.update(recipient_id=None, biz_opaque_callback_data="x" * 513, errors=[None, {"code": "1"}])
    [status] = parse_webhook(payload).statuses
    assert (status.recipient, status.callback_data) == (None, None)
    assert status.errors == (StatusError(None, "", ""),)


@pytest.mark.parametrize(
    ("wa_id", "expected"),
    [
        ("393331234567", "+393331234567"),
        ("123456", "+123456"),
        ("123456789012345", "+123456789012345"),
        ("12345", None),
        ("+393331234567", None),
        ("39 333 1234567", None),
        (393331234567, None),
        (None, None),
    ],
)
def test_e164(wa_id, expected):
    assert e164(wa_id) == expected


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("Iscri\x00vimi", "Iscrivimi"),  # PostgreSQL cannot store NUL in text
        ("Iscrivimi \ud83d", "Iscrivimi \ufffd"),  # half an emoji: not encodable as UTF-8
        ("\udc00", "\ufffd"),
    ],
)
def test_text_is_cleaned_of_what_no_database_can_store(typed, read):
    payload = _text_payload(text={"body": typed})
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = typed

    [message] = parse_webhook(payload).messages

    assert (message.text, message.profile_name) == (read, read)


def test_a_text_of_nothing_but_nul_is_no_text():
    [message] = parse_webhook(_text_payload(text={"body": "\x00\x00"})).messages
    assert message.text is None


def test_an_error_code_outside_32_bits_is_no_code():
    payload = load_fixture("status_failed_undeliverable.json")
    [error] = payload["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"]
    error["code"] = 2**31
    error["message"] = "Message\x00 undeliverable \ud800"

    [status] = parse_webhook(payload).statuses

    assert status.errors[0].code is None
    assert status.errors[0].title == "Message undeliverable \ufffd"


# --- Only our number ---------------------------------------------------------------------------

OTHER_NUMBER_ID = "108812345678901"  # the fixtures' other number of the same business account


@pytest.mark.parametrize("name", ["inbound_text_other_number.json", "status_other_number.json"])
def test_a_body_for_another_number_keeps_nothing(name):
    payload = load_fixture(name)
    ours = addressed_to(payload, OUR_NUMBER_ID)
    events = parse_webhook(ours)
    assert (events.messages, events.statuses, events.errors) == ([], [], [])
    # The other number's own service would read it all.
    assert addressed_to(payload, OTHER_NUMBER_ID) is payload


def test_a_body_for_our_number_is_kept_as_it_is():
    payload = load_fixture("status_sent_delivered_read.json")
    assert addressed_to(payload, OUR_NUMBER_ID) is payload


def test_without_a_number_to_compare_with_everything_is_kept():
    payload = load_fixture("inbound_text_other_number.json")
    assert addressed_to(payload, "") is payload


def test_a_mixed_body_keeps_only_our_changes_in_order():
    ours = load_fixture("inbound_text_iscrivimi.json")
    theirs = load_fixture("inbound_text_other_number.json")
    status = load_fixture("status_sent_delivered_read.json")
    payload = ours
    payload["entry"][0]["changes"] = [
        theirs["entry"][0]["changes"][0],
        *ours["entry"][0]["changes"],
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
    ]
    payload["entry"].append(status["entry"][0])
    events = parse_webhook(addressed_to(payload, OUR_NUMBER_ID))
    assert [m.message_id for m in events.messages] == [
        "wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhggQTE2RjBFQjk2"
    ]
    assert len(events.statuses) == 3
    kept = addressed_to(payload, OUR_NUMBER_ID)["entry"][0]["changes"]
    # A change that names no number (the account's own notices) is not another number's.
    assert [change["field"] for change in kept] == ["messages", "message_template_status_update"]


@pytest.mark.parametrize("payload", [None, [], "x", {"entry": "x"}, {"entry": [1, {"changes": 2}]}])
def test_filtering_what_is_not_a_webhook_never_raises(payload):
    assert addressed_to(payload, OUR_NUMBER_ID) == payload


@pytest.mark.parametrize(
    ("name", "stopped", "at"),
    [
        ("user_preferences_marketing_stop.json", True, 1764004500),
        ("user_preferences_marketing_resume.json", False, 1764090900),
    ],
)
def test_a_citizens_marketing_choice(name, stopped, at):
    events = parse_webhook(load_fixture(name))
    assert (events.messages, events.statuses, events.errors) == ([], [], [])
    assert events.preferences == [
        MarketingPreference(
            stopped=stopped,
            timestamp=datetime.fromtimestamp(at, tz=UTC),
            phone="+393338888888",
            user_id="IT.1502938475610293",
        )
    ]
    # Not statuses only: it is read at once, not left in the status buffer.
    assert carries_only_statuses(load_fixture(name)) is False


def _preference_payload(**item):
    payload = load_fixture("user_preferences_marketing_stop.json")
    payload["entry"][0]["changes"][0]["value"]["user_preferences"][0].update(item)
    return payload


@pytest.mark.parametrize(
    "item",
    [
        {"category": "other_messages"},  # a preference about something else
        {"value": "pause"},  # a choice we do not know
        {"value": None},
        {"timestamp": "soon"},
        {"wa_id": "not a number"},  # and no user id anywhere to know the citizen by
    ],
)
def test_a_preference_that_cannot_be_trusted_is_skipped(item):
    payload = _preference_payload(**item)
    if "wa_id" in item:
        del payload["entry"][0]["changes"][0]["value"]["contacts"]
    assert parse_webhook(payload).preferences == []


def test_a_preference_batched_with_statuses_is_not_left_to_the_status_buffer():
    payload = load_fixture("status_sent_delivered_read.json")
    payload["entry"][0]["changes"] += load_fixture("user_preferences_marketing_stop.json")["entry"][
        0
    ]["changes"]
    assert carries_only_statuses(payload) is False
    events = parse_webhook(payload)
    assert len(events.statuses) == 3 and len(events.preferences) == 1


def test_a_failed_status_of_the_marketing_cap_and_of_a_disabled_template():
    [capped] = parse_webhook(load_fixture("status_failed_marketing_limit.json")).statuses
    assert (capped.callback_data, capped.errors[0].code) == ("d:1", 131049)
    [disabled] = parse_webhook(load_fixture("status_failed_template_disabled.json")).statuses
    assert disabled.errors[0] == StatusError(
        132016,
        "Template is disabled",
        "Template has been paused too many times due to low quality and is now permanently "
        "disabled.",
    )
