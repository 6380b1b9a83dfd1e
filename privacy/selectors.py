"""Reads of the privacy app."""

from __future__ import annotations

from datetime import datetime

from privacy.models import ErasureTombstone
from subscribers.services.pseudonyms import subscriber_pseudonym


def _addresses(*, phone: str | None, wa_user_id: str | None) -> list[str]:
    """The pseudonyms a citizen's message names them by (the erasure's own address forms)."""
    addresses = [phone] if phone else []
    if wa_user_id:
        addresses.append(f"wa:{wa_user_id}")
    return [subscriber_pseudonym(address=address) for address in addresses]


def message_predates_erasure(
    *, phone: str | None, wa_user_id: str | None, sent_at: datetime
) -> bool:
    """Whether a message was written before its sender's number (or user id) was erased."""
    return ErasureTombstone.objects.filter(
        pseudonym__in=_addresses(phone=phone, wa_user_id=wa_user_id), erased_at__gte=sent_at
    ).exists()
