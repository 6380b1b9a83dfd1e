"""Citizens' messages: each handled once, its keyword acted on, and the reply it earned sent."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

import gateway
from comune import italian
from comune.celery import enqueue
from subscribers import selectors
from subscribers.keywords import DEFAULT_KEYWORDS, Intent, KeywordMatcher
from subscribers.models import ConsentRecord, InboundMessage, Subscriber
from subscribers.services.consent import Outcome, consent_change, subscriber_number_change

logger = logging.getLogger(__name__)


class ReplyNotDelivered(Exception):
    """The gateway answered 'try again later'; the task retries."""


_KEYWORD_INTENTS = {
    Intent.SUBSCRIBE: InboundMessage.Intent.SUBSCRIBE,
    Intent.UNSUBSCRIBE: InboundMessage.Intent.UNSUBSCRIBE,
    Intent.HELP: InboundMessage.Intent.HELP,
    Intent.OTHER: InboundMessage.Intent.OTHER,
}


# What a keyword earns, by what it did; a stale keyword (overtaken by a newer one) gets nothing.
_KEYWORD_REPLIES: dict[str, dict[Outcome, str]] = {
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
    if message.kind == gateway.InboundKind.NUMBER_CHANGED:
        return InboundMessage.Intent.NUMBER_CHANGED
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
        if intent != InboundMessage.Intent.NUMBER_CHANGED and selectors.number_changed_since(
            phone=message.phone, wa_user_id=message.user_id, since=message.timestamp
        ):
            # Written from a number its citizen has left since (Meta redelivered it late):
            # the number may be someone else's now, and the citizen is at their new one.
            intent, is_keyword = InboundMessage.Intent.IGNORED, False
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

        subscriber: Subscriber | None
        if intent == InboundMessage.Intent.NUMBER_CHANGED and message.new_phone:
            # WhatsApp's notice, not the citizen writing: no reply, their window as it was.
            inbound.subscriber = subscriber_number_change(
                phone=message.phone,
                wa_user_id=message.user_id,
                new_phone=message.new_phone,
                new_user_id=message.new_user_id,
                occurred_at=message.timestamp,
                evidence={"message_id": message.message_id, "kind": "number_changed"},
            )
            inbound.save(update_fields=["subscriber"])
            return inbound
        if intent in _KEYWORD_REPLIES:
            subscriber, outcome = consent_change(
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
        transaction.on_commit(lambda: enqueue("subscribers.tasks.inbound_reply_send", inbound.pk))
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
    """Remember the citizen's newest message: it opens WhatsApp's 24-hour window. A stop on
    marketing messages stays: only the citizen's resume, through WhatsApp, lifts it."""
    Subscriber.objects.filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=message_at), pk=subscriber.pk
    ).update(last_inbound_at=message_at)


def reply_text(*, reply: str) -> str:
    """The Italian text of a reply; templates under whatsapp/replies/ can be overridden."""
    context = {
        **italian.names(),
        "privacy_url": settings.SITE_URL + reverse("privacy-notice"),
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
    if selectors.number_changed_since(
        phone=inbound.phone, wa_user_id=inbound.wa_user_id, since=inbound.occurred_at
    ):
        return  # its citizen left that number before the reply could go: nothing goes to it
    message = gateway.TextMessage(
        to=inbound.address,
        body=reply_text(reply=inbound.reply),
        callback_data=f"r:{inbound.pk}",
    )
    with gateway.get_backend() as backend:
        result = backend.send(message)
    error = result.error
    if error is None:
        InboundMessage.objects.filter(pk=inbound.pk).update(reply_wamid=result.message_id or "")
        return
    if error.retryable and not final_attempt:
        raise ReplyNotDelivered(f"{error.code}: {error.title}")
    logger.warning(
        "reply to inbound message %s not delivered: %s %s", inbound.pk, error.code, error.title
    )
    InboundMessage.objects.filter(pk=inbound.pk).update(
        reply_error=f"{error.code or ''} {error.title}".strip()[:300]
    )
