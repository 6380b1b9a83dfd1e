import pytest
import requests
import urllib3

from gateway.errors import (
    ERROR_KINDS,
    classify_error,
    send_error_from_exception,
    send_error_from_response,
)
from gateway.parsing import parse_webhook
from gateway.testing import status_update, statuses_value, webhook_body
from gateway.types import ErrorKind
from tests.gateway.conftest import load_fixture

DOCUMENTED = {
    ErrorKind.RATE_LIMITED: [130429, 4, 80007],
    ErrorKind.RETRY: [131056, 131000, 131016, 131057, 1, 2],
    ErrorKind.FATAL: [0, 190, 10, 200, 250, 299, 3, 133010, 368, 131048, 131031],
    ErrorKind.RECIPIENT: [
        131026, 131047, 131049, 131050, 131051, 131052, 131053, 132000, 132001, 132005,
        132007, 132012, 132015, 132016, 132018, 100, 131008, 131009, 131021,
    ],
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
            ErrorKind.RECIPIENT,
            132018,
            "(#132018) There was an issue with the parameters in your template.",
            "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
        ),
    ],
)
def test_fixture_error_answers(name, status, kind, code, title, details):
    error = send_error_from_response(load_fixture(name), status)
    assert (error.kind, error.code, error.title, error.details) == (kind, code, title, details)
    assert error.retryable is (kind in (ErrorKind.RETRY, ErrorKind.RATE_LIMITED))


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
