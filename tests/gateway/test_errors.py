import pytest
import requests
import urllib3

from gateway.errors import (
    ERROR_KINDS,
    classify_error,
    recipient_condition,
    send_error_from_exception,
    send_error_from_response,
)
from gateway.parsing import parse_webhook
from gateway.testing import status_update, statuses_value, webhook_body
from gateway.types import ErrorKind, RecipientCondition, SendError
from tests.gateway.conftest import load_fixture

DOCUMENTED = {
    ErrorKind.RATE_LIMITED: [130429, 4, 80007],
    ErrorKind.RETRY: [131056, 131000, 131016, 131057, 1, 2],
    ErrorKind.FATAL: [0, 190, 10, 200, 250, 299, 3, 133010, 368, 131048, 131031],
    ErrorKind.RECIPIENT: [
        131026, 131047, 131050, 131051, 131052, 131053, 100, 131008, 131009, 131021,
    ],
    ErrorKind.TEMPLATE: [132000, 132001, 132005, 132007, 132012, 132015, 132016, 132018],
    ErrorKind.DEFERRED: [131049],
    ErrorKind.NEEDS_TEMPLATE: [131062],
}  # fmt: skip


@pytest.mark.parametrize(
    ("code", "kind"), [(code, kind) for kind, codes in DOCUMENTED.items() for code in codes]
)
def test_meta_codes_decide_whatever_the_http_status(code, kind):
    for status in (None, 400, 403, 429, 500):
        assert classify_error(code, status) is kind


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (None, None, ErrorKind.RETRY),  # network failure
        (None, 500, ErrorKind.RETRY),
        (None, 503, ErrorKind.RETRY),
        (None, 429, ErrorKind.RETRY),
        (None, 400, ErrorKind.RECIPIENT),
        (None, 401, ErrorKind.FATAL),
        (None, 403, ErrorKind.FATAL),
        (999999, 502, ErrorKind.RETRY),
        (999999, 429, ErrorKind.RETRY),
        (999999, 400, ErrorKind.RECIPIENT),
        (999999, 401, ErrorKind.RECIPIENT),
        (999999, None, ErrorKind.RECIPIENT),  # unknown code in a status webhook
    ],
)
def test_without_a_known_code_the_http_status_decides(code, status, kind):
    assert classify_error(code, status) is kind


def test_the_table_covers_the_permission_range():
    assert all(ERROR_KINDS[code] is ErrorKind.FATAL for code in range(200, 300))


@pytest.mark.parametrize(
    ("name", "status", "kind", "code", "title", "details"),
    [
        (
            "send_error_rate_limit.json",
            400,
            ErrorKind.RATE_LIMITED,
            130429,
            "(#130429) Rate limit hit",
            "Cloud API message throughput has been reached.",
        ),
        (
            "send_error_token_expired.json",
            401,
            ErrorKind.FATAL,
            190,
            "Error validating access token: Session has expired.",
            "",
        ),
        (
            "send_error_outside_window.json",
            400,
            ErrorKind.RECIPIENT,
            131047,
            "(#131047) Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer "
            "last replied to this number.",
        ),
        (
            "send_error_template_param.json",
            400,
            ErrorKind.TEMPLATE,
            132018,
            "(#132018) There was an issue with the parameters in your template.",
            "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
        ),
        (
            "send_error_template_paused.json",
            400,
            ErrorKind.TEMPLATE,
            132015,
            "(#132015) Template is paused",
            "Template is paused due to low quality so it cannot be sent in a template message.",
        ),
        (
            "send_error_marketing_limit.json",
            400,
            ErrorKind.DEFERRED,
            131049,
            "(#131049) This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be "
            "delivered.",
        ),
        (
            "send_error_pair_rate_limit.json",
            400,
            ErrorKind.RETRY,
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone "
            "number to the same phone number in a short period of time.",
        ),
        (
            "send_error_user_id_not_allowed.json",
            400,
            ErrorKind.NEEDS_TEMPLATE,
            131062,
            "(#131062) Business-scoped user id is not supported for this message type",
            "Messages of this type cannot be sent to a business-scoped user id. Send a template "
            "message instead.",
        ),
        (
            "send_error_marketing_opt_out.json",
            400,
            ErrorKind.RECIPIENT,
            131050,
            "(#131050) Unable to deliver the message. This recipient has chosen to stop "
            "receiving marketing messages on WhatsApp from your business.",
            "The user has opted out of marketing messages.",
        ),
    ],
)
def test_fixture_error_answers(name, status, kind, code, title, details):
    error = send_error_from_response(load_fixture(name), status)
    assert (error.kind, error.code, error.title, error.details) == (kind, code, title, details)
    assert error.retryable is (
        kind in (ErrorKind.RETRY, ErrorKind.RATE_LIMITED, ErrorKind.DEFERRED)
    )
    assert error.stops_broadcast is (kind in (ErrorKind.FATAL, ErrorKind.TEMPLATE))


@pytest.mark.parametrize(
    ("name", "retry_after"),
    [
        ("send_error_marketing_limit.json", 24 * 3600),  # no sooner than a day later
        ("send_error_pair_rate_limit.json", 10),  # the same citizen, in seconds
        ("send_error_rate_limit.json", None),  # the sender's own backoff
        ("send_error_template_paused.json", None),
    ],
)
def test_meta_says_how_long_some_messages_wait(name, retry_after):
    assert send_error_from_response(load_fixture(name), 400).retry_after == retry_after


def test_what_an_error_says_about_the_recipients_number():
    assert recipient_condition(131050) is RecipientCondition.MARKETING_STOPPED
    assert recipient_condition(131026) is RecipientCondition.UNDELIVERABLE
    assert recipient_condition(131049) is None  # a cap of the day, not the citizen's choice
    assert recipient_condition(None) is None


def test_only_the_sender_or_the_template_stop_a_broadcast():
    stopping = {kind for kind in ErrorKind if SendError(kind, None, "").stops_broadcast}
    assert stopping == {ErrorKind.FATAL, ErrorKind.TEMPLATE}


@pytest.mark.parametrize(
    "body",
    [
        None,
        "<html>Bad gateway</html>",
        [],
        {},
        {"error": "nope"},
        {"error": {"code": "131000", "message": 5}},
        {"error": {"code": True, "error_data": "x"}},
    ],
)
def test_garbage_answers_fall_back_on_the_http_status(body):
    error = send_error_from_response(body, 502)
    assert (error.kind, error.code, error.title, error.details) == (
        ErrorKind.RETRY,
        None,
        "HTTP 502",
        "",
    )


def test_a_title_is_read_when_there_is_no_message():
    error = send_error_from_response({"error": {"code": 131026, "title": "Undeliverable"}}, 400)
    assert (error.kind, error.title) == (ErrorKind.RECIPIENT, "Undeliverable")


def test_a_network_failure_after_connecting_leaves_the_outcome_unknown():
    error = send_error_from_exception(requests.ReadTimeout("read timed out"))
    assert (error.kind, error.code, error.title) == (
        ErrorKind.UNKNOWN,
        None,
        "ReadTimeout: read timed out",
    )


def test_a_network_failure_before_connecting_is_retried():
    refused = urllib3.exceptions.MaxRetryError(
        None, "/", urllib3.exceptions.NewConnectionError(None, "refused")
    )
    assert send_error_from_exception(requests.ConnectionError(refused)).kind == ErrorKind.RETRY
    assert send_error_from_exception(requests.ConnectTimeout("slow")).kind == ErrorKind.RETRY


def test_metas_texts_are_kept_without_the_recipients_number():
    """Issue 13, finding 19: some error titles quote the number; they are stored and shown."""
    body = {"error": {"code": 131026, "message": "Undeliverable to +39 333 123 4567"}}
    error = send_error_from_response(body, 400)
    assert error.title == "Undeliverable to ***67"

    events = parse_webhook(
        webhook_body(
            statuses_value(
                status_update(
                    wamid="wamid.x",
                    status="failed",
                    errors=({"code": 131026, "title": "Failed for 393331234567"},),
                )
            )
        )
    )
    assert events.statuses[0].errors[0].title == "Failed for ***67"
