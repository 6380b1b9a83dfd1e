"""Pseudonyms: a citizen's number replaced by a keyed hash, so that their row, and the consent
records that point at it, outlive the number (retention and erasure)."""

from __future__ import annotations

from django.db.models import Q
from django.utils.crypto import salted_hmac

from subscribers.models import InboundMessage, Subscriber

# Never change it: pseudonyms made before must stay comparable with new ones.
_PSEUDONYM_SALT = "subscribers.retention.pseudonym"


def subscriber_pseudonym(*, address: str) -> str:
    """A keyed hash of a number (or WhatsApp user id): the same address always gives the same
    pseudonym, which nobody can reverse or recompute without the installation's SECRET_KEY."""
    return salted_hmac(_PSEUDONYM_SALT, address, algorithm="sha256").hexdigest()


def subscriber_pseudonym_of(*, subscriber: Subscriber) -> str:
    """The citizen's pseudonym: the one retention or erasure gave them, or, while their number
    is known, the one it would give them. The consent log binds it into every record."""
    if subscriber.pseudonym and not subscriber.address:
        return subscriber.pseudonym
    return subscriber_pseudonym(address=subscriber.phone or f"wa:{subscriber.wa_user_id}")


def inbound_messages_of(subscriber: Subscriber) -> Q:
    """The inbound messages a citizen sent: linked to their row, or from their address."""
    messages = Q(subscriber=subscriber)
    if subscriber.phone:
        messages |= Q(phone=subscriber.phone)
    if subscriber.wa_user_id:
        messages |= Q(wa_user_id=subscriber.wa_user_id)
    return messages


def subscriber_pseudonymise(*, subscriber: Subscriber) -> None:
    """Replace a citizen's number and user id with a keyed hash, and clear them from their
    inbound messages. Their consent records are untouched: they point at the row, not the
    number. Expects the row locked."""
    InboundMessage.objects.filter(inbound_messages_of(subscriber)).update(
        phone=None, wa_user_id=None
    )
    subscriber.pseudonym = subscriber_pseudonym_of(subscriber=subscriber)
    subscriber.phone = subscriber.wa_user_id = None
    subscriber.save(update_fields=["pseudonym", "phone", "wa_user_id"])
