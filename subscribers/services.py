"""Writes of the subscribers app: keywords in, consent appended, replies scheduled."""

from __future__ import annotations

import enum
import functools
import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

import gateway
from subscribers import selectors
from subscribers.consent_log import consent_digest
from subscribers.keywords import DEFAULT_KEYWORDS, Intent, KeywordMatcher
from subscribers.models import ConsentRecord, InboundMessage, PrivacyNotice, Subscriber

logger = logging.getLogger(__name__)


# Any constant key: one advisory lock serialises appends to the consent log on PostgreSQL.
CONSENT_LOG_LOCK = 0x1C0_5E27


class Outcome(enum.StrEnum):
    """What a subscribe or unsubscribe request did."""

    CHANGED = "changed"  # the status changed and a consent record was appended
    REPEATED = "repeated"  # the citizen was already in that state: nothing appended
    STALE = "stale"  # older than the citizen's newest keyword: the newer one stands


class NoCurrentPrivacyNotice(Exception):
    """Nobody can subscribe before the comune publishes a privacy notice."""


class ReplyNotDelivered(Exception):
    """The gateway answered 'try again later'; the task retries."""


_KEYWORD_INTENTS = {
    Intent.SUBSCRIBE: InboundMessage.Intent.SUBSCRIBE,
    Intent.UNSUBSCRIBE: InboundMessage.Intent.UNSUBSCRIBE,
    Intent.HELP: InboundMessage.Intent.HELP,
    Intent.OTHER: InboundMessage.Intent.OTHER,
}


# What a keyword earns, by what it did; a stale keyword (overtaken by a newer one) gets nothing.
_KEYWORD_REPLIES = {
    InboundMessage.Intent.SUBSCRIBE: {
        Outcome.CHANGED: InboundMessage.Reply.SUBSCRIBED,
        Outcome.REPEATED: InboundMessage.Reply.ALREADY_SUBSCRIBED,
    },
    InboundMessage.Intent.UNSUBSCRIBE: {
        Outcome.CHANGED: InboundMessage.Reply.UNSUBSCRIBED,
        Outcome.REPEATED: InboundMessage.Reply.NOT_SUBSCRIBED,
    },
}


def _keyword_matcher() -> KeywordMatcher:
    """The matcher for the configured keywords; an empty setting keeps the Italian defaults."""
    configured = (
        (Intent.SUBSCRIBE, tuple(settings.KEYWORDS_SUBSCRIBE)),
        (Intent.UNSUBSCRIBE, tuple(settings.KEYWORDS_UNSUBSCRIBE)),
        (Intent.HELP, tuple(settings.KEYWORDS_HELP)),
    )
    return _matcher_for(configured)


@functools.lru_cache(maxsize=4)
def _matcher_for(configured: tuple[tuple[Intent, tuple[str, ...]], ...]) -> KeywordMatcher:
    return KeywordMatcher(
        {intent: words or DEFAULT_KEYWORDS[intent] for intent, words in configured}
    )


def _intent_of(message: gateway.InboundMessage) -> str:
    if message.kind == gateway.InboundKind.TEXT:
        return _KEYWORD_INTENTS[_keyword_matcher().match(message.text)]
    if message.kind in (gateway.InboundKind.REACTION, gateway.InboundKind.SYSTEM):
        return InboundMessage.Intent.IGNORED
    return InboundMessage.Intent.OTHER


def inbound_message_receive(*, message: gateway.InboundMessage) -> InboundMessage | None:
    """Handle one citizen message exactly once, however often Meta delivers it.

    Returns the stored message, or None when it was a redelivery. The reply is sent by a task
    once the transaction commits.
    """
    intent = _intent_of(message)
    is_keyword = intent in (
        InboundMessage.Intent.SUBSCRIBE,
        InboundMessage.Intent.UNSUBSCRIBE,
        InboundMessage.Intent.HELP,
    )
    with transaction.atomic():
        inbound, created = InboundMessage.objects.get_or_create(
            wamid=message.message_id,
            defaults={
                "phone": message.phone,
                "wa_user_id": message.user_id,
                "wa_type": message.wa_type[:32],
                "intent": intent,
                # Only a keyword's text is kept, as consent evidence; nothing of other content.
                "text": (message.text or "")[:1000] if is_keyword else "",
                "occurred_at": message.timestamp,
            },
        )
        if not created:
            return None

        if intent in _KEYWORD_REPLIES:
            subscriber, outcome = _consent_change(
                subscribe=intent == InboundMessage.Intent.SUBSCRIBE,
                phone=message.phone,
                wa_user_id=message.user_id,
                occurred_at=message.timestamp,
                channel=ConsentRecord.Channel.WHATSAPP,
                evidence={"message_id": message.message_id, "text": inbound.text},
            )
            reply = _KEYWORD_REPLIES[intent].get(outcome, InboundMessage.Reply.NONE)
        else:
            subscriber = selectors.subscriber_find(phone=message.phone, wa_user_id=message.user_id)
            reply = _reply_to_other(intent=intent, message=message)

        if subscriber is not None:
            _subscriber_touch(subscriber=subscriber, message_at=message.timestamp)
        inbound.subscriber = subscriber
        inbound.reply = reply
        inbound.save(update_fields=["subscriber", "reply"])

    if reply:
        from subscribers import tasks

        transaction.on_commit(lambda: tasks.inbound_reply_send.delay(inbound.pk))
    return inbound


def _reply_to_other(*, intent: str, message: gateway.InboundMessage) -> str:
    if intent == InboundMessage.Intent.HELP:
        return InboundMessage.Reply.HELP
    if intent == InboundMessage.Intent.IGNORED:
        return InboundMessage.Reply.NONE
    since = timezone.now() - timedelta(hours=settings.ONE_WAY_NOTICE_INTERVAL_HOURS)
    if selectors.one_way_notice_sent_since(
        phone=message.phone, wa_user_id=message.user_id, since=since
    ):
        return InboundMessage.Reply.NONE
    return InboundMessage.Reply.ONE_WAY_NOTICE


def _subscriber_touch(*, subscriber: Subscriber, message_at: datetime) -> None:
    """Remember the citizen's newest message: it opens WhatsApp's 24-hour window, and ends a
    stop on business messages they had asked WhatsApp for."""
    Subscriber.objects.filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=message_at), pk=subscriber.pk
    ).update(last_inbound_at=message_at, messages_stopped_at=None)


def _subscriber_lock(*, phone: str | None, wa_user_id: str | None) -> Subscriber:
    """The citizen's row, locked for this transaction; created (unsubscribed) if new.

    Expects to run inside transaction.atomic(). Two concurrent first messages from one number
    meet on the unique constraint; the loser reads the winner's row.
    """
    for _attempt in range(2):
        found = selectors.subscriber_find(phone=phone, wa_user_id=wa_user_id)
        if found is not None:
            subscriber = Subscriber.objects.select_for_update().get(pk=found.pk)
            if wa_user_id and not subscriber.wa_user_id:
                subscriber.wa_user_id = wa_user_id
                subscriber.save(update_fields=["wa_user_id"])
            return subscriber
        try:
            with transaction.atomic():
                return Subscriber.objects.create(phone=phone, wa_user_id=wa_user_id)
        except IntegrityError:
            continue
    raise IntegrityError("subscriber row could be neither found nor created")


def _consent_append(
    *,
    subscriber: Subscriber,
    action: str,
    channel: str,
    occurred_at: datetime,
    evidence: dict,
    notice: PrivacyNotice | None = None,
) -> ConsentRecord:
    """Append one consent event to the hash chain. The log is never edited: this is its only
    writer. Expects to run inside transaction.atomic(): appends are serialised until commit (an
    advisory lock on PostgreSQL; SQLite writes one at a time) so each chains to the one before."""
    notice = notice or selectors.privacy_notice_current()
    if notice is None:
        raise NoCurrentPrivacyNotice("publish a privacy notice before accepting subscriptions")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CONSENT_LOG_LOCK])
    last = ConsentRecord.objects.order_by("-sequence").only("sequence", "hash").first()
    record = ConsentRecord(
        subscriber=subscriber,
        action=action,
        channel=channel,
        notice=notice,
        occurred_at=occurred_at,
        recorded_at=timezone.now(),
        # The stored JSON is what verification reads back: hash that, not the Python objects.
        evidence=json.loads(json.dumps(evidence)),
        sequence=last.sequence + 1 if last else 1,
        previous_hash=last.hash if last else "",
    )
    record.hash = consent_digest(record, record.previous_hash)
    record.save(force_insert=True)
    return record


def subscriber_subscribe(
    *,
    phone: str | None,
    wa_user_id: str | None = None,
    occurred_at: datetime,
    channel: str,
    evidence: dict,
    notice: PrivacyNotice | None = None,
) -> tuple[Subscriber, Outcome]:
    """Subscribe a citizen, appending a `granted` record with the given (or current) notice."""
    return _consent_change(
        subscribe=True,
        phone=phone,
        wa_user_id=wa_user_id,
        occurred_at=occurred_at,
        channel=channel,
        evidence=evidence,
        notice=notice,
    )


def subscriber_unsubscribe(
    *,
    phone: str | None,
    wa_user_id: str | None = None,
    occurred_at: datetime,
    channel: str,
    evidence: dict,
) -> tuple[Subscriber, Outcome]:
    """Unsubscribe a citizen, appending a `withdrawn` record.

    A withdrawal from an unknown number still leaves an unsubscribed row, so that an older
    Iscrivimi redelivered later cannot subscribe them.
    """
    return _consent_change(
        subscribe=False,
        phone=phone,
        wa_user_id=wa_user_id,
        occurred_at=occurred_at,
        channel=channel,
        evidence=evidence,
    )


def _consent_change(
    *,
    subscribe: bool,
    phone: str | None,
    wa_user_id: str | None,
    occurred_at: datetime,
    channel: str,
    evidence: dict,
    notice: PrivacyNotice | None = None,
) -> tuple[Subscriber, Outcome]:
    """Move a citizen to subscribed or unsubscribed, appending the consent event if it changes.

    Locks the subscriber's row. A request older than the citizen's newest keyword is stale and
    changes nothing, so that out-of-order webhooks end in the state the citizen last asked for.
    """
    with transaction.atomic():
        subscriber = _subscriber_lock(phone=phone, wa_user_id=wa_user_id)
        if subscriber.keyword_at and occurred_at < subscriber.keyword_at:
            return subscriber, Outcome.STALE
        subscriber.keyword_at = occurred_at
        if subscriber.is_subscribed == subscribe:
            if subscribe:
                # Writing to us proves the number reachable again.
                subscriber.status = Subscriber.Status.ACTIVE
            subscriber.save(update_fields=["keyword_at", "status"])
            return subscriber, Outcome.REPEATED
        _consent_append(
            subscriber=subscriber,
            action=ConsentRecord.Action.GRANTED if subscribe else ConsentRecord.Action.WITHDRAWN,
            channel=channel,
            occurred_at=occurred_at,
            evidence=evidence,
            notice=notice,
        )
        if subscribe:
            subscriber.status = Subscriber.Status.ACTIVE
            subscriber.subscribed_at = occurred_at
            subscriber.unsubscribed_at = None
        else:
            subscriber.status = Subscriber.Status.UNSUBSCRIBED
            subscriber.unsubscribed_at = occurred_at
        subscriber.save(update_fields=["keyword_at", "status", "subscribed_at", "unsubscribed_at"])
        logger.info("subscriber %s %s via %s", subscriber.pk, subscriber.status, channel)
        return subscriber, Outcome.CHANGED


def privacy_notice_publish(*, version: str, title: str, body: str) -> PrivacyNotice:
    """Make a new version current; earlier consents stay tied to the version they accepted."""
    with transaction.atomic():
        PrivacyNotice.objects.select_for_update().filter(is_current=True).update(is_current=False)
        return PrivacyNotice.objects.create(
            version=version, title=title, body=body, published_at=timezone.now(), is_current=True
        )


def reply_text(*, reply: str) -> str:
    """The Italian text of a reply; templates under whatsapp/replies/ can be overridden."""
    context = {
        "comune_name": settings.COMUNE_NAME,
        "service_name": settings.COMUNE_SERVICE_NAME or f"WhatsApp {settings.COMUNE_NAME}",
        "privacy_url": settings.SITE_URL + reverse("privacy-notice"),
        "reports_contact": settings.COMUNE_REPORTS_CONTACT,
        "subscribe_keyword": (settings.KEYWORDS_SUBSCRIBE or ["Iscrivimi"])[0],
        "unsubscribe_keyword": (settings.KEYWORDS_UNSUBSCRIBE or ["Cancellami"])[0],
    }
    return render_to_string(f"whatsapp/replies/{reply}.txt", context).strip()


def inbound_reply_send(*, inbound_message_id: int, final_attempt: bool = False) -> None:
    """Send the reply an inbound message earned, once.

    Raises ReplyNotDelivered for errors worth retrying, unless this is the final attempt, in
    which case the error is recorded like any other.
    """
    inbound = InboundMessage.objects.filter(pk=inbound_message_id).first()
    if inbound is None or not inbound.reply or inbound.reply_wamid or inbound.reply_error:
        return
    message = gateway.TextMessage(
        to=inbound.address,
        body=reply_text(reply=inbound.reply),
        callback_data=f"r:{inbound.pk}",
    )
    with gateway.get_backend() as backend:
        result = backend.send(message)
    if result.ok:
        InboundMessage.objects.filter(pk=inbound.pk).update(reply_wamid=result.message_id or "")
        return
    error = result.error
    if error.retryable and not final_attempt:
        raise ReplyNotDelivered(f"{error.code}: {error.title}")
    logger.warning(
        "reply to inbound message %s not delivered: %s %s", inbound.pk, error.code, error.title
    )
    InboundMessage.objects.filter(pk=inbound.pk).update(
        reply_error=f"{error.code or ''} {error.title}".strip()[:300]
    )
