"""The contract every backend keeps, after Django's ``BaseEmailBackend``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from gateway.ratelimit import Limiter, NoRateLimit, RateLimiterUnavailable
from gateway.types import ErrorKind, Message, SendError, SendResult, TemplateMessage, TextMessage


class BaseBackend:
    """Sends messages and answers with one ``SendResult`` per message, in order.

    Meta's verdicts on a message are returned, never raised, so a batch always completes and the
    caller decides per row. What is raised is what no retry can fix: configuration errors at
    construction and, unless ``fail_silently``, unexpected errors (bugs, invalid URLs) while
    sending; with ``fail_silently`` those come back as FATAL errors instead.

    Every send first takes a slot from ``limiter`` (``gateway.get_backend()`` passes the
    number's shared one; a backend built directly has none), and a 130429 answer pushes the
    shared schedule back by ``rate_limited_pause`` seconds. A limiter that cannot be reached
    means no slot: the message is not sent (``ErrorKind.NOT_SENT``).

    Options a backend does not use are ignored, as Django's mail backends do, so that one
    ``WHATSAPP_GATEWAY["OPTIONS"]`` works whichever backend the environment picks.
    """

    def __init__(
        self,
        fail_silently: bool = False,
        limiter: Limiter | None = None,
        rate_limited_pause: float = 1.0,
        **options: Any,
    ) -> None:
        self.fail_silently = fail_silently
        self.limiter = limiter or NoRateLimit()
        self.rate_limited_pause = rate_limited_pause

    def open(self) -> bool:
        """Open the connection pool if needed; True if this call opened it."""
        return False

    def close(self) -> None:
        """Release the connection pool; the backend may be opened again later."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send_messages(self, messages: Sequence[Message]) -> list[SendResult]:
        """Send each message; one result per message, in the same order."""
        return [self.send(message) for message in messages]

    def send(
        self,
        message: Message,
        *,
        before_request: Callable[[], bool] | None = None,
        bulk: bool = False,
    ) -> SendResult:
        """Send one message; safe to call from several threads on the same backend.

        ``bulk``: one of many (a broadcast's), whose slot a single message (a keyword's reply)
        may overtake; see ``gateway.ratelimit``.

        ``before_request`` is called once the slot is due, right before the request leaves; if
        it returns False the message is not sent (``NOT_SENT``). A caller records there that
        the message may reach Meta from now on, so that after a crash it knows which messages
        never did.
        """
        if not isinstance(message, TextMessage | TemplateMessage):
            raise TypeError(f"cannot send a {type(message).__name__}")
        try:
            self.limiter.acquire(bulk=bulk)
        except RateLimiterUnavailable as exc:
            return _not_sent(message, f"rate limiter unavailable ({exc})")
        if before_request is not None and not before_request():
            return _not_sent(message, "withdrawn before sending")
        try:
            result = self._send(message)
        except Exception as exc:
            if not self.fail_silently:
                raise
            error = SendError(kind=ErrorKind.FATAL, code=None, title=type(exc).__name__)
            return SendResult(message=message, error=error)
        if result.error and result.error.kind == ErrorKind.RATE_LIMITED:
            # Unreachable, the limiter cannot slow down; the next acquire finds it down too.
            with contextlib.suppress(RateLimiterUnavailable):
                self.limiter.slow_down(self.rate_limited_pause)
        return result

    def list_templates(self, waba_id: str) -> list[dict[str, Any]]:
        """The business account's templates as plain dicts; local backends have none."""
        return []

    def _send(self, message: Message) -> SendResult:
        """Deliver one message; classified failures go in the result, not in an exception."""
        raise NotImplementedError("a backend must implement _send()")


def _not_sent(message: Message, reason: str) -> SendResult:
    return SendResult(message=message, error=SendError(ErrorKind.NOT_SENT, None, reason))
