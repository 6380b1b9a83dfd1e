"""Plain data the gateway exchanges with the apps: no Django models, no Meta JSON shapes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway.formatting import template_fill

# A citizen's message opens WhatsApp's customer-service window for this long: inside it free
# text may go to them, outside it only an approved template.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a citizen whose newest message is `last_inbound_at` is inside the window now
    (a message exactly 24 hours old has just closed it)."""
    return last_inbound_at is not None and now - last_inbound_at < CUSTOMER_SERVICE_WINDOW


@dataclass(frozen=True)
class TextMessage:
    """A free-form text, deliverable only inside the citizen's 24-hour window."""

    to: str  # E.164 with the leading "+", or a business-scoped user id when no number is known
    body: str
    callback_data: str | None = None  # echoed back in status webhooks (our own id)
    preview_url: bool = False


@dataclass(frozen=True)
class TemplateMessage:
    """An approved template, the only kind delivered outside the 24-hour window."""

    to: str
    name: str
    language: str
    body_parameters: tuple[str, ...] = ()
    header_parameters: tuple[str, ...] = ()
    callback_data: str | None = None
    # The template's body text with {{1}}… placeholders, when known: console/locmem show it filled.
    body_text: str | None = None

    def rendered_body(self) -> str:
        """The text a citizen reads: the body with its parameters filled in."""
        return template_fill(self.body_text or "", list(self.body_parameters))


Message = TextMessage | TemplateMessage


class ErrorKind(enum.StrEnum):
    """What the sender should do about a failed send."""

    RETRY = "retry"  # temporary: try the same message again later, with backoff
    RATE_LIMITED = "rate_limited"  # the sender goes too fast: slow everything down, then retry
    RECIPIENT = "recipient"  # this recipient cannot get this message: end the row, do not retry
    FATAL = "fatal"  # the sender itself is broken (token, permissions): stop and alert staff
    # The request never left (no rate-limit slot, or the caller withdrew it): Meta has not got
    # it, so sending it again later cannot duplicate it.
    NOT_SENT = "not_sent"
    # The request may have reached Meta and the answer was lost (a read timeout, a connection
    # cut mid-exchange): sending it again could deliver it twice.
    UNKNOWN = "unknown"
    # The template itself was refused (missing, paused, disabled, its parameters): every
    # recipient of the same message would get the same answer, so the sender stops and tells
    # staff instead of failing each one.
    TEMPLATE = "template"
    # This recipient, not now: the same message may go no sooner than `retry_after` seconds
    # later (Meta's per-citizen marketing cap), a bounded number of times.
    DEFERRED = "deferred"
    # This kind of message may not go to this recipient (free text to a WhatsApp user id): an
    # approved template may.
    NEEDS_TEMPLATE = "needs_template"


class RecipientCondition(enum.StrEnum):
    """What a failure says about the citizen's number, beyond this one message."""

    # They told WhatsApp to stop marketing messages from us: marketing templates fail until
    # they resume.
    MARKETING_STOPPED = "marketing_stopped"
    # Not on WhatsApp, or cannot receive (a few of these in a row: unreachable).
    UNDELIVERABLE = "undeliverable"


@dataclass(frozen=True)
class SendError:
    kind: ErrorKind
    code: int | None  # Meta's error code, None for network or unparseable answers
    title: str
    details: str = ""
    # Seconds before the same message may be tried again, when Meta says (None: the sender's
    # usual backoff).
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in (
            ErrorKind.RETRY,
            ErrorKind.RATE_LIMITED,
            ErrorKind.NOT_SENT,
            ErrorKind.DEFERRED,
        )

    @property
    def stops_broadcast(self) -> bool:
        """The same answer awaits every other recipient: pause, tell staff, send nothing more."""
        return self.kind in (ErrorKind.FATAL, ErrorKind.TEMPLATE)


@dataclass(frozen=True)
class SendResult:
    """One per message sent: Meta's message id when accepted, else a classified error."""

    message: Message
    message_id: str | None = None
    error: SendError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class InboundKind(enum.StrEnum):
    TEXT = "text"  # text, template button and interactive replies: all carry text
    MEDIA = "media"  # image, video, audio, document, sticker
    LOCATION = "location"
    CONTACTS = "contacts"
    REACTION = "reaction"
    NUMBER_CHANGED = "number_changed"  # the citizen moved to new_phone (and new_user_id)
    SYSTEM = "system"  # WhatsApp's other notices about a citizen
    OTHER = "other"  # unsupported, order, unknown future types


@dataclass(frozen=True)
class InboundMessage:
    message_id: str  # Meta's wamid, unique
    timestamp: datetime  # the citizen's own message time, timezone-aware UTC
    kind: InboundKind
    wa_type: str  # Meta's type string as received ("text", "button", "image", …)
    phone: str | None  # E.164 with "+", None when Meta sent no number (username users)
    user_id: str | None = None  # business-scoped user id, when Meta sends one
    text: str | None = None  # the body, button text or reply title; None for non-text kinds
    profile_name: str | None = None
    phone_number_id: str | None = None  # our receiving number's id
    # NUMBER_CHANGED only: the citizen's new E.164 number, and their new business-scoped user
    # id when Meta sends it (a new number means a new one). `phone` and `user_id` are the old.
    new_phone: str | None = None
    new_user_id: str | None = None


@dataclass(frozen=True)
class StatusError:
    code: int | None
    title: str
    details: str = ""


@dataclass(frozen=True)
class StatusUpdate:
    message_id: str  # the wamid Meta gave when it accepted our message
    status: str  # "sent", "delivered", "read", "failed" (others possible: kept as given)
    timestamp: datetime
    recipient: str | None = None  # E.164 with "+"
    callback_data: str | None = None
    errors: tuple[StatusError, ...] = ()


@dataclass(frozen=True)
class MarketingPreference:
    """A citizen told WhatsApp to stop (or to resume) marketing messages from the business."""

    stopped: bool  # True: stop; False: resume
    timestamp: datetime  # when they chose, timezone-aware UTC
    phone: str | None  # E.164 with "+", None when Meta sent no number
    user_id: str | None = None  # business-scoped user id, when Meta sends one


@dataclass(frozen=True)
class WebhookEvents:
    """Everything one webhook POST carried, in the order Meta listed it."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[StatusError] = field(default_factory=list)  # account-level errors
    preferences: list[MarketingPreference] = field(default_factory=list)
