"""Meta's error codes, sorted into what the sender should do about them.

Meta's HTTP status for a given error varies, so the classification branches on Meta's own ``code``
and falls back on the HTTP status only when the answer carries no code we know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import requests
import urllib3

from gateway.redaction import redact
from gateway.types import ErrorKind, RecipientCondition, SendError

# The one place that maps Meta's codes to a decision. Codes not listed fall back on the HTTP status.
ERROR_KINDS: Mapping[int, ErrorKind] = {
    # Throughput and API rate limits: the whole sender slows down.
    130429: ErrorKind.RATE_LIMITED,  # per-number throughput reached
    4: ErrorKind.RATE_LIMITED,  # application request limit
    80007: ErrorKind.RATE_LIMITED,  # business account rate limit
    # Temporary: the same message may succeed later.
    131056: ErrorKind.RETRY,  # pair rate limit: this recipient, in a few seconds
    131000: ErrorKind.RETRY,  # something went wrong
    131016: ErrorKind.RETRY,  # service temporarily unavailable
    131057: ErrorKind.RETRY,  # account in maintenance (throughput upgrade)
    1: ErrorKind.RETRY,  # API unknown
    2: ErrorKind.RETRY,  # API service
    # The sender itself is broken: stop and alert staff instead of failing every row.
    0: ErrorKind.FATAL,  # authentication exception
    190: ErrorKind.FATAL,  # access token expired or invalid
    3: ErrorKind.FATAL,  # capability missing
    10: ErrorKind.FATAL,  # permission denied
    **dict.fromkeys(range(200, 300), ErrorKind.FATAL),  # permission errors
    133010: ErrorKind.FATAL,  # phone number not registered
    368: ErrorKind.FATAL,  # temporarily blocked for policy violations
    131048: ErrorKind.FATAL,  # spam rate limit: quality too low
    131031: ErrorKind.FATAL,  # business account locked
    # The template is refused, whoever it goes to: stop the broadcast and tell staff.
    132000: ErrorKind.TEMPLATE,  # template parameter count mismatch
    132001: ErrorKind.TEMPLATE,  # template does not exist (in that language)
    132005: ErrorKind.TEMPLATE,  # translated text too long
    132007: ErrorKind.TEMPLATE,  # template format character policy violated
    132012: ErrorKind.TEMPLATE,  # template parameter format mismatch (e.g. the header's)
    132015: ErrorKind.TEMPLATE,  # template paused (low quality)
    132016: ErrorKind.TEMPLATE,  # template disabled
    132018: ErrorKind.TEMPLATE,  # template parameter text not allowed (newlines, tabs, spaces)
    # This recipient, not now.
    131049: ErrorKind.DEFERRED,  # per-user marketing limit: no sooner than 24 hours later
    # Not this kind of message to this recipient: a template may go.
    131062: ErrorKind.NEEDS_TEMPLATE,  # message type not allowed to a business-scoped user id
    # This recipient cannot get this message: end the row, do not retry.
    131026: ErrorKind.RECIPIENT,  # undeliverable
    131047: ErrorKind.RECIPIENT,  # outside the 24-hour window
    131050: ErrorKind.RECIPIENT,  # user stopped marketing messages
    131051: ErrorKind.RECIPIENT,  # unsupported message type
    131052: ErrorKind.RECIPIENT,  # media download error
    131053: ErrorKind.RECIPIENT,  # media upload error
    100: ErrorKind.RECIPIENT,  # invalid parameter
    131008: ErrorKind.RECIPIENT,  # required parameter missing
    131009: ErrorKind.RECIPIENT,  # parameter value invalid
    131021: ErrorKind.RECIPIENT,  # recipient is the sender
}

# How long Meta asks the same message to wait, in seconds, where it says.
RETRY_AFTER: Mapping[int, float] = {
    # Meta counts marketing messages from every business over a moving day.
    131049: 24 * 3600.0,
    # About one message every 6 s to the same citizen; a little more, so the next one fits.
    131056: 10.0,
}

# What an error says about the recipient's number, beyond the message that failed.
RECIPIENT_CONDITIONS: Mapping[int, RecipientCondition] = {
    131050: RecipientCondition.MARKETING_STOPPED,
    131026: RecipientCondition.UNDELIVERABLE,
}

_MAX_TEXT = 1024
# What Meta's codes fit in (an IntegerField): a larger "code" is not Meta's.
_CODE_RANGE = range(-(2**31), 2**31)
# NUL (PostgreSQL's text refuses it) and lone surrogates (half an emoji: no UTF-8 encodes it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Text as a database can store it: NUL removed, a lone surrogate replaced by U+FFFD.

    JSON may escape either (``\\u0000``, ``\\ud83d``); stored as they are, they would fail the
    write, and every redelivery of the webhook, for days."""
    return _UNSTORABLE.sub(lambda match: "" if match.group() == "\x00" else "\ufffd", value)


def classify_error(code: int | None, http_status: int | None = None) -> ErrorKind:
    """Decide what to do about an error from Meta's code, else from the HTTP status.

    ``http_status`` is None for network failures (retry) and for errors reported by a status
    webhook, where an unknown code is taken as the recipient's problem so it is not retried forever.
    A 401/403 without a known code is an authentication failure (FATAL) rather than a bad recipient:
    failing every row of a broadcast because a proxy refused the token would lose the broadcast.
    """
    if code is not None and code in ERROR_KINDS:
        return ERROR_KINDS[code]
    if http_status is None:
        return ErrorKind.RETRY if code is None else ErrorKind.RECIPIENT
    if http_status >= 500 or http_status == 429:
        return ErrorKind.RETRY
    if code is None and http_status in (401, 403):
        return ErrorKind.FATAL
    return ErrorKind.RECIPIENT


def retry_after(code: int | None) -> float | None:
    """Seconds before a message that failed with `code` may be tried again (None: no rule)."""
    return RETRY_AFTER.get(code) if code is not None else None


def recipient_condition(code: int | None) -> RecipientCondition | None:
    """What a failure with `code` tells about the recipient's number, if anything."""
    return RECIPIENT_CONDITIONS.get(code) if code is not None else None


def error_fields(error: object) -> tuple[int | None, str, str]:
    """Read (code, title, details) from one Meta error object, tolerating any shape.

    Meta writes the human text in ``message`` for HTTP answers and in ``title`` for webhooks;
    either is used. Non-integer codes, and codes outside 32 bits, count as no code.
    """
    if not isinstance(error, Mapping):
        return None, "", ""
    code = error.get("code")
    if not isinstance(code, int) or isinstance(code, bool) or code not in _CODE_RANGE:
        code = None
    title = _text(error.get("message")) or _text(error.get("title"))
    error_data = error.get("error_data")
    details = _text(error_data.get("details")) if isinstance(error_data, Mapping) else ""
    return code, title, details


def send_error_from_response(body: object, http_status: int | None) -> SendError:
    """Turn a failed answer's decoded JSON body (or None, or garbage) into a classified error."""
    error = body.get("error") if isinstance(body, Mapping) else None
    code, title, details = error_fields(error)
    if not title:
        title = f"HTTP {http_status}" if http_status is not None else "No answer"
    return SendError(
        kind=classify_error(code, http_status),
        code=code,
        title=title,
        details=details,
        retry_after=retry_after(code),
    )


def send_error_from_exception(exc: BaseException) -> SendError:
    """A network failure. One before the connection was made (refused, no route, a connect
    timeout, a failed TLS handshake) sent nothing: retry later. One after it (a read timeout, a
    connection cut mid-exchange) may have delivered the request: whether Meta accepted it is
    unknown, and only its status webhook can tell."""
    message = _text(str(exc))
    title = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    kind = ErrorKind.RETRY if _never_connected(exc) else ErrorKind.UNKNOWN
    return SendError(kind=kind, code=None, title=title[:_MAX_TEXT])


def _never_connected(exc: BaseException) -> bool:
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    # requests wraps urllib3's MaxRetryError, whose reason says at which step it failed.
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.SSLError)


def _text(value: object) -> str:
    """Meta's text as we keep it: storable, bounded, and without the recipient's number, which
    some error titles quote."""
    return redact(clean_text(value))[:_MAX_TEXT] if isinstance(value, str) else ""
