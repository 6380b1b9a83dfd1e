"""Consent: subscribing and unsubscribing a citizen, each change appended to the hash-chained
consent log; publishing the privacy notice they accept."""

from __future__ import annotations

import enum
import json
import logging
from datetime import UTC, datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from subscribers import selectors
from subscribers.consent_log import consent_digest, privacy_notice_hash
from subscribers.models import ConsentRecord, PrivacyNotice, Subscriber
from subscribers.services.pseudonyms import subscriber_pseudonym_of

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


def _subscriber_lock(*, phone: str | None, wa_user_id: str | None) -> Subscriber:
    """The citizen's row, locked for this transaction; created (unsubscribed) if new.

    Expects to run inside transaction.atomic(). Two concurrent first messages from one number
    meet on the unique constraint; the loser reads the winner's row.
    """
    for _attempt in range(2):
        found = selectors.subscriber_find(phone=phone, wa_user_id=wa_user_id)
        if found is not None:
            subscriber = Subscriber.objects.select_for_update().get(pk=found.pk)
            # Learn the user id, unless another row already holds it (the same citizen known
            # twice): the unique constraint would fail, and so would every redelivery.
            if (
                wa_user_id
                and not subscriber.wa_user_id
                and not Subscriber.objects.filter(wa_user_id=wa_user_id).exists()
            ):
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
    """Append one consent event to the hash chain, bound to the subscriber's pseudonym and the
    notice's text. The log is never edited: this is its only writer. Expects to run inside
    transaction.atomic(): appends are serialised until commit (an advisory lock on PostgreSQL;
    SQLite writes one at a time) so each chains to the one before."""
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
        subscriber_pseudonym=subscriber_pseudonym_of(subscriber=subscriber),
        notice_hash=privacy_notice_hash(notice),
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
    return consent_change(
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
    return consent_change(
        subscribe=False,
        phone=phone,
        wa_user_id=wa_user_id,
        occurred_at=occurred_at,
        channel=channel,
        evidence=evidence,
    )


def consent_change(
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
    A withdrawal reaches every row that names the citizen, by number or by user id: leaving is
    always possible.
    """
    with transaction.atomic():
        subscriber = _subscriber_lock(phone=phone, wa_user_id=wa_user_id)
        outcome = _change_row(
            subscriber,
            subscribe=subscribe,
            occurred_at=occurred_at,
            channel=channel,
            evidence=evidence,
            notice=notice,
        )
        if not subscribe:
            for other in _other_rows(subscriber, phone=phone, wa_user_id=wa_user_id):
                changed = _change_row(
                    other,
                    subscribe=False,
                    occurred_at=occurred_at,
                    channel=channel,
                    evidence=evidence,
                )
                if changed == Outcome.CHANGED:
                    outcome = Outcome.CHANGED
        return subscriber, outcome


def _other_rows(
    subscriber: Subscriber, *, phone: str | None, wa_user_id: str | None
) -> list[Subscriber]:
    """Other rows naming the same citizen, locked in id order."""
    names = Q(pk__in=[])
    if phone:
        names |= Q(phone=phone)
    if wa_user_id:
        names |= Q(wa_user_id=wa_user_id)
    others = Subscriber.objects.filter(names).exclude(pk=subscriber.pk)
    return list(others.select_for_update().order_by("pk"))


def _change_row(
    subscriber: Subscriber,
    *,
    subscribe: bool,
    occurred_at: datetime,
    channel: str,
    evidence: dict,
    notice: PrivacyNotice | None = None,
) -> Outcome:
    """One locked row to the state asked for; see consent_change."""
    if subscriber.keyword_at and occurred_at < subscriber.keyword_at:
        return Outcome.STALE
    subscriber.keyword_at = occurred_at
    if subscriber.is_subscribed == subscribe:
        if subscribe:
            # Writing to us proves the number reachable again.
            subscriber.status = Subscriber.Status.ACTIVE
        subscriber.save(update_fields=["keyword_at", "status"])
        return Outcome.REPEATED
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
    return Outcome.CHANGED


def subscriber_number_change(
    *,
    phone: str | None,
    wa_user_id: str | None,
    new_phone: str,
    new_user_id: str | None,
    occurred_at: datetime,
    evidence: dict,
) -> Subscriber | None:
    """The citizen told WhatsApp they moved from `phone` (or `wa_user_id`) to `new_phone`: their
    subscription, its state and preferences, and their consent trail follow them, and no row
    keeps the old number, which may soon be someone else's. Returns the row that now holds the
    new number, or None when nobody we know had the old one.

    The move is appended to the consent log (`number_changed`, channel WhatsApp, the message as
    evidence with the old and new numbers' pseudonyms: the log binds each record to its
    subscriber's number, and must still verify after it).

    A row may already hold the new number: the citizen wrote a keyword from it before Meta's
    notice reached us, or the number's previous owner did, long ago. Whichever row holds the
    newer keyword stands at the new number (the citizen's latest word, as for out-of-order
    keywords; on a tie, the row already there); the other is retired: a subscription on it is
    withdrawn (recorded, the same evidence naming the row that stands) and its number
    pseudonymised. Locks the rows involved, in id order.
    """
    with transaction.atomic():
        found = selectors.subscriber_find(phone=phone, wa_user_id=wa_user_id)
        if found is None or found.phone == new_phone:
            return found
        locked = list(
            Subscriber.objects.select_for_update()
            .filter(Q(pk=found.pk) | Q(phone=new_phone))
            .order_by("pk")
        )
        subscriber = next(row for row in locked if row.pk == found.pk)
        holder = next((row for row in locked if row.pk != found.pk), None)
        if holder is not None:
            if _newest_word(holder) >= _newest_word(subscriber):
                _subscriber_retire(
                    subscriber, moved_to=holder, occurred_at=occurred_at, evidence=evidence
                )
                return holder
            _subscriber_retire(
                holder, moved_to=subscriber, occurred_at=occurred_at, evidence=evidence
            )
        previous_pseudonym = subscriber_pseudonym_of(subscriber=subscriber)
        subscriber.phone = new_phone
        # A new number means a new business-scoped user id: the old one named the old number.
        subscriber.wa_user_id = (
            new_user_id
            if new_user_id and not Subscriber.objects.filter(wa_user_id=new_user_id).exists()
            else None
        )
        if subscriber.status == Subscriber.Status.UNREACHABLE:
            # The failures were the old number's.
            subscriber.status = Subscriber.Status.ACTIVE
        subscriber.undeliverable_count = 0
        subscriber.save(update_fields=["phone", "wa_user_id", "status", "undeliverable_count"])
        _consent_append(
            subscriber=subscriber,
            action=ConsentRecord.Action.NUMBER_CHANGED,
            channel=ConsentRecord.Channel.WHATSAPP,
            occurred_at=occurred_at,
            evidence={
                **evidence,
                "previous_pseudonym": previous_pseudonym,
                "pseudonym": subscriber_pseudonym_of(subscriber=subscriber),
            },
            notice=_notice_last_accepted(subscriber),
        )
        logger.info("subscriber %s moved to a new number", subscriber.pk)
        return subscriber


def _newest_word(subscriber: Subscriber) -> datetime:
    """When the row's citizen last decided with a keyword; the beginning of time if never."""
    return subscriber.keyword_at or datetime.min.replace(tzinfo=UTC)


def _notice_last_accepted(subscriber: Subscriber) -> PrivacyNotice | None:
    """The notice of the subscriber's latest consent event; None (the current one) if none."""
    latest = subscriber.consents.order_by("-sequence").select_related("notice").first()
    return latest.notice if latest else None


def _subscriber_retire(
    subscriber: Subscriber, *, moved_to: Subscriber, occurred_at: datetime, evidence: dict
) -> None:
    """A row that no longer keeps its number, since `moved_to` holds it or its citizen: see
    subscriber_number_change. Expects both rows locked."""
    if subscriber.is_subscribed:
        _consent_append(
            subscriber=subscriber,
            action=ConsentRecord.Action.WITHDRAWN,
            channel=ConsentRecord.Channel.WHATSAPP,
            # Never older than the citizen's newest keyword, whose state it replaces.
            occurred_at=max(occurred_at, subscriber.keyword_at or occurred_at),
            evidence={**evidence, "moved_to": moved_to.pk},
            notice=_notice_last_accepted(subscriber),
        )
        subscriber.status = Subscriber.Status.UNSUBSCRIBED
        subscriber.unsubscribed_at = occurred_at
    # Its records bind the old number's pseudonym, which is what the row keeps.
    subscriber.pseudonym = subscriber_pseudonym_of(subscriber=subscriber)
    subscriber.phone = subscriber.wa_user_id = None
    subscriber.save(update_fields=["status", "unsubscribed_at", "pseudonym", "phone", "wa_user_id"])
    logger.info(
        "subscriber %s retired at a change of number, subscriber %s stands",
        subscriber.pk,
        moved_to.pk,
    )


def privacy_notice_publish(*, version: str, title: str, body: str) -> PrivacyNotice:
    """Make a new version current; earlier consents stay tied to the version they accepted.

    Raises ValidationError, writing nothing, for a version that cannot be part of the notice's
    address or that exists already."""
    notice = PrivacyNotice(
        version=version, title=title, body=body, published_at=timezone.now(), is_current=True
    )
    notice.full_clean(validate_constraints=False)  # the current one is replaced below
    with transaction.atomic():
        PrivacyNotice.objects.select_for_update().filter(is_current=True).update(is_current=False)
        notice.save(force_insert=True)
        return notice
