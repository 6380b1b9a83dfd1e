"""The inbound edge: what a verified webhook carried, handed to the app that owns it. Citizens'
messages go to the subscribers app at once; statuses are stored (with a broker) and applied to
deliveries in bulk by a task, or applied at once without one."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

import gateway
from broadcasts.services.statuses import deliveries_apply_statuses
from comune.celery import enqueue
from gateway.redaction import redact
from privacy.selectors import message_predates_erasure
from subscribers.services.delivery import subscriber_marketing_preference_record
from subscribers.services.inbound import inbound_message_receive
from webhooks import status_buffer
from webhooks.models import StatusDeadLetter

logger = logging.getLogger(__name__)

# How far ahead of our clock a citizen's message time may be (their phone's clock, Meta's).
MESSAGE_CLOCK_SKEW = timedelta(minutes=5)
# How long the first buffered status waits for others to share its batch.
STATUS_BATCH_SECONDS = 0.25
# A body's statuses refused as data: by the database (a constraint, a value out of range) or
# before it (a value no column takes). Such a body is set aside; a database that is down
# (OperationalError) is not among these: the drain stops, and its batch is applied later.
_REFUSED = (DataError, IntegrityError, ValueError, OverflowError)


def webhook_ours(*, body: bytes, payload: object) -> tuple[bytes, object]:
    """A verified webhook body and its decoded payload without what was addressed to another
    number of the business account (`WHATSAPP_PHONE_NUMBER_ID`): such messages are never
    answered, such statuses never stored nor applied. The body is re-encoded only when
    something was left out."""
    ours = gateway.addressed_to(payload, settings.WHATSAPP_PHONE_NUMBER_ID)
    if ours is payload:
        return body, payload
    return json.dumps(ours, ensure_ascii=False).encode(), ours


def webhook_receive(*, body: bytes, events: gateway.WebhookEvents) -> None:
    """Handle a verified, parsed webhook POST: messages one by one, marketing preferences
    recorded, statuses buffered.

    A message the database refuses as data (a constraint, a value out of range) is logged and
    skipped, so that it never blocks the others Meta batched with it, nor every redelivery of
    them. A database that is down raises: the view answers 503 and Meta redelivers.
    """
    for message in events.messages:
        if not _to_handle(message):
            continue
        try:
            inbound_message_receive(message=message)
        except (IntegrityError, DataError) as refused:
            # The exception's text may quote the row's values (a number, a user id): only its type.
            logger.error(
                "inbound message %s skipped: the database refused it (%s)",
                message.message_id,
                type(refused).__name__,
            )
    for preference in events.preferences:
        if message_predates_erasure(
            phone=preference.phone, wa_user_id=preference.user_id, sent_at=preference.timestamp
        ):
            continue  # the choice of a citizen erased since: nothing of theirs is kept
        subscriber_marketing_preference_record(preference=preference)
    if events.statuses:
        statuses_receive(bodies=[body])
    for error in events.errors:
        logger.error("WhatsApp reported an account error %s: %s", error.code, error.title)


def _to_handle(message: gateway.InboundMessage) -> bool:
    """A message is handled only inside Meta's redelivery window (a week: older ones may have been
    forgotten by retention, so handling them could act twice), not from the future, and not
    when it was written before its sender was erased (a redelivery or a replay)."""
    now = timezone.now()
    oldest = now - timedelta(days=settings.RETENTION_INBOUND_MIN_DAYS)
    if not oldest <= message.timestamp <= now + MESSAGE_CLOCK_SKEW:
        logger.warning(
            "inbound message %s ignored: outside the redelivery window", message.message_id
        )
        return False
    if message_predates_erasure(
        phone=message.phone, wa_user_id=message.user_id, sent_at=message.timestamp
    ):
        logger.info("inbound message %s ignored: its sender was erased since", message.message_id)
        return False
    return True


def statuses_receive(*, bodies: list[bytes]) -> None:
    """Verified webhook bodies carrying statuses: stored for a bulk apply when tasks run on a
    broker, else applied now. Either way they are committed when this returns."""
    if not status_buffer.enabled():
        _statuses_apply(bodies)
    elif status_buffer.push(*bodies):
        _apply_soon(STATUS_BATCH_SECONDS)


def statuses_apply_buffered() -> int:
    """Apply the stored status webhooks; returns the bodies applied. Bodies stored during the
    drain started their own."""
    return status_buffer.drain(_statuses_apply)


def status_dead_letter_create(*, body: bytes, reason: str) -> StatusDeadLetter:
    """Set aside a verified status webhook that cannot be applied, its numbers masked."""
    payload = json.loads(body)
    logger.error("a status webhook was set aside: the database refused it (%s)", reason)
    return StatusDeadLetter.objects.create(
        reason=reason,
        statuses=len(gateway.parse_webhook(payload).statuses),
        body=_masked(payload),
    )


def _statuses_apply(bodies: list[bytes]) -> None:
    """Apply the statuses of verified webhook bodies, all in one transaction. When that is
    refused, body by body: each body refused is set aside, so that it never stops the others,
    nor every drain after it."""
    try:
        with transaction.atomic():
            deliveries_apply_statuses(statuses=_statuses(bodies))
        return
    except _REFUSED:
        pass  # which body? each on its own says
    for body in bodies:
        try:
            with transaction.atomic():
                deliveries_apply_statuses(statuses=_statuses([body]))
        except _REFUSED as refused:
            # The exception's text may quote the row's values: only its type.
            status_dead_letter_create(body=body, reason=type(refused).__name__)


def _statuses(bodies: list[bytes]) -> list[gateway.StatusUpdate]:
    statuses = []
    for body in bodies:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            logger.error("skipped an unreadable buffered webhook body")
            continue
        statuses.extend(gateway.parse_webhook(payload).statuses)
    return statuses


def _masked(value: object, key: str = "") -> object:
    """A decoded body with the numbers in its strings masked (Unix times kept), and what no
    database stores (NUL, half an emoji) cleaned."""
    if isinstance(value, dict):
        return {name: _masked(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, key) for item in value]
    if isinstance(value, str):
        return gateway.clean_text(value if key == "timestamp" else redact(value))
    return value


def statuses_apply_stranded() -> None:
    """The safety net: stored statuses whose drain's task was lost (a broker restart)."""
    if status_buffer.enabled() and status_buffer.stranded():
        _apply_soon(0)


def _apply_soon(countdown: float) -> None:
    try:
        enqueue("broadcasts.tasks.deliveries_apply_statuses", countdown=countdown)
    except (OperationalError, RedisError):
        # The statuses are safe in the database: the periodic sweep starts their drain.
        logger.warning("could not enqueue the status drain; the sweep will start it")
