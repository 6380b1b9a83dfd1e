"""Meta's webhook POSTs read into plain dataclasses.

The parser is total: whatever JSON arrives, it returns what it understood and skips the rest,
because an exception here would make Meta redeliver the same payload for days.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from gateway.errors import clean_text, error_fields
from gateway.types import (
    InboundKind,
    InboundMessage,
    MarketingPreference,
    StatusError,
    StatusUpdate,
    WebhookEvents,
)

logger = logging.getLogger(__name__)

# Sane upper bounds: anything longer is not something Meta sends, so it is not stored either.
MAX_ID_LENGTH = 256  # wamid (Meta documents up to 128), business-scoped user id
MAX_NAME_LENGTH = 256  # profile name, status name, phone number id
MAX_CALLBACK_LENGTH = 512  # biz_opaque_callback_data (Meta's own limit)
MAX_TEXT_LENGTH = 65_536  # message text (Meta allows 4,096)
MAX_TIMESTAMP_DIGITS = 12  # Unix seconds up to year 33658

_MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
_KINDS_BY_TYPE = {
    "location": InboundKind.LOCATION,
    "contacts": InboundKind.CONTACTS,
    "reaction": InboundKind.REACTION,
    "system": InboundKind.SYSTEM,
}
_NUMBER_CHANGED_TYPES = frozenset({"user_changed_number", "customer_changed_number"})


# A citizen's choice about marketing messages (the `user_preferences` change's `value`).
_MARKETING_CHOICES = {"stop": True, "resume": False}


def parse_webhook(payload: object) -> WebhookEvents:
    """Read every message, status, account error and marketing preference of a decoded webhook
    body, in Meta's order.

    Only ``whatsapp_business_account`` payloads, and their ``messages`` and ``user_preferences``
    changes, are read; Meta batches several entries and changes in one POST, so all of them are
    walked. Never raises.
    """
    events = WebhookEvents()
    if not isinstance(payload, Mapping) or payload.get("object") != "whatsapp_business_account":
        logger.debug("webhook skipped: not a WhatsApp Business Account payload")
        return events
    for value in _change_values(payload, "user_preferences"):
        contacts = _contacts(value.get("contacts"))
        for raw in _mappings(value.get("user_preferences")):
            preference = _preference(raw, contacts)
            if preference is not None:
                events.preferences.append(preference)
    for value in _change_values(payload):
        metadata = _mapping(value.get("metadata"))
        phone_number_id = _string(metadata.get("phone_number_id"), MAX_NAME_LENGTH)
        contacts = _contacts(value.get("contacts"))
        for raw in _mappings(value.get("messages")):
            message = _message(raw, contacts, phone_number_id)
            if message is not None:
                events.messages.append(message)
        for raw in _mappings(value.get("statuses")):
            status = _status(raw)
            if status is not None:
                events.statuses.append(status)
        events.errors.extend(_errors(value.get("errors")))
    return events


def carries_only_statuses(payload: object) -> bool:
    """Whether a decoded webhook body holds status updates and nothing else (no message, no
    account error, no marketing preference): nothing in it needs an answer now, so it can be
    read later, in bulk."""
    if not isinstance(payload, Mapping) or payload.get("object") != "whatsapp_business_account":
        return False
    values = list(_change_values(payload))
    return (
        bool(values)
        and next(_change_values(payload, "user_preferences"), None) is None
        and all("messages" not in value and "errors" not in value for value in values)
        and any(value.get("statuses") for value in values)
    )


def addressed_to(payload: object, phone_number_id: str) -> object:
    """The decoded webhook body without the changes addressed to another number than
    `phone_number_id` (Meta sends an app the traffic of every number of the business account:
    the library's, the tourist office's). The body itself when nothing is left out, or when
    `phone_number_id` is empty (no number to compare with: the console and the simulator).

    A change that names no number (the account's own notices) is kept. Never raises.
    """
    if not phone_number_id or not isinstance(payload, Mapping):
        return payload
    entries = payload.get("entry")
    if not isinstance(entries, list):
        return payload
    kept_entries, left_out = [], 0
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        if not isinstance(changes, list):
            kept_entries.append(entry)
            continue
        kept = [change for change in changes if _addressed_to(change, phone_number_id)]
        left_out += len(changes) - len(kept)
        kept_entries.append({**entry, "changes": kept})
    if not left_out:
        return payload
    logger.debug("webhook: %d change(s) for another phone number id ignored", left_out)
    return {**payload, "entry": kept_entries}


def _addressed_to(change: object, phone_number_id: str) -> bool:
    value = _mapping(change).get("value")
    named = _mapping(_mapping(value).get("metadata")).get("phone_number_id")
    return named is None or named == phone_number_id


def e164(wa_id: object) -> str | None:
    """Meta's ``393331234567`` as ``+393331234567``; None unless it is 6 to 15 ASCII digits."""
    if isinstance(wa_id, str) and 6 <= len(wa_id) <= 15 and wa_id.isascii() and wa_id.isdigit():
        return "+" + wa_id
    return None


def _change_values(payload: Mapping, field: str = "messages") -> Iterator[Mapping]:
    for entry in _mappings(payload.get("entry")):
        for change in _mappings(entry.get("changes")):
            if change.get("field") != field:
                logger.debug("webhook change skipped: field is not %r", field)
                continue
            value = change.get("value")
            if isinstance(value, Mapping):
                yield value


def _contacts(raw: object) -> dict[str, tuple[str | None, str | None]]:
    """Profile name and user id of each contact, keyed by its wa_id and by its user id."""
    contacts: dict[str, tuple[str | None, str | None]] = {}
    for contact in _mappings(raw):
        name = _string(_mapping(contact.get("profile")).get("name"), MAX_NAME_LENGTH)
        user_id = _string(contact.get("user_id"), MAX_ID_LENGTH)
        for key in (_string(contact.get("wa_id"), MAX_ID_LENGTH), user_id):
            if key:
                contacts[key] = (name, user_id)
    return contacts


def _message(
    raw: Mapping,
    contacts: Mapping[str, tuple[str | None, str | None]],
    phone_number_id: str | None,
) -> InboundMessage | None:
    message_id = _string(raw.get("id"), MAX_ID_LENGTH)
    timestamp = _timestamp(raw.get("timestamp"))
    sender = _string(raw.get("from"), MAX_ID_LENGTH)
    phone = e164(sender)
    user_id = _string(raw.get("from_user_id"), MAX_ID_LENGTH) or _string(
        raw.get("user_id"), MAX_ID_LENGTH
    )
    profile_name, contact_user_id = (
        contacts.get(sender or "") or contacts.get(user_id or "") or (None, None)
    )
    user_id = user_id or contact_user_id
    if message_id is None or timestamp is None or (phone is None and user_id is None):
        logger.debug("webhook message skipped: no usable id, timestamp or sender")
        return None
    wa_type = _string(raw.get("type"), MAX_NAME_LENGTH) or "unknown"
    kind, text = _kind_and_text(wa_type, raw)
    new_phone = new_user_id = None
    if kind is InboundKind.SYSTEM:
        system = _mapping(raw.get("system"))
        new_phone, new_user_id = _number_change(system)
        if new_phone is not None:
            kind = InboundKind.NUMBER_CHANGED
            # Meta's system messages carry no contacts: the old user id may be in `system`.
            user_id = user_id or _string(system.get("previous_user_id"), MAX_ID_LENGTH)
    return InboundMessage(
        message_id=message_id,
        timestamp=timestamp,
        kind=kind,
        wa_type=wa_type,
        phone=phone,
        user_id=user_id,
        text=text,
        profile_name=profile_name,
        phone_number_id=phone_number_id,
        new_phone=new_phone,
        new_user_id=new_user_id,
    )


def _number_change(system: Mapping) -> tuple[str | None, str | None]:
    """The new number and new user id of a `user_changed_number` notice (None, None for any
    other). The new number is `wa_id` (`new_wa_id` before Graph API v12; `customer_changed_number`
    is the old name of the type); the new user id, `user_id`, comes since business-scoped ids."""
    if system.get("type") not in _NUMBER_CHANGED_TYPES:
        return None, None
    new_phone = e164(system.get("wa_id")) or e164(system.get("new_wa_id"))
    if new_phone is None:
        logger.debug("webhook number change skipped: no usable new number")
        return None, None
    return new_phone, _string(system.get("user_id"), MAX_ID_LENGTH)


def _kind_and_text(wa_type: str, raw: Mapping) -> tuple[InboundKind, str | None]:
    """Everything a citizen can type or tap becomes TEXT, so keywords work on buttons too."""
    if wa_type == "text":
        return InboundKind.TEXT, _string(_mapping(raw.get("text")).get("body"), MAX_TEXT_LENGTH)
    if wa_type == "button":
        return InboundKind.TEXT, _string(_mapping(raw.get("button")).get("text"), MAX_TEXT_LENGTH)
    if wa_type == "interactive":
        interactive = _mapping(raw.get("interactive"))
        for reply_key in ("button_reply", "list_reply"):
            title = _string(_mapping(interactive.get(reply_key)).get("title"), MAX_TEXT_LENGTH)
            if title is not None:
                return InboundKind.TEXT, title
        return InboundKind.OTHER, None
    if wa_type in _MEDIA_TYPES:
        return InboundKind.MEDIA, None
    return _KINDS_BY_TYPE.get(wa_type, InboundKind.OTHER), None


def _preference(
    raw: Mapping, contacts: Mapping[str, tuple[str | None, str | None]]
) -> MarketingPreference | None:
    """One ``user_preferences`` item: a stop or a resume of marketing messages, the citizen's
    number (or user id) and when. Other categories and values are not ours to read."""
    if raw.get("category") != "marketing_messages":
        logger.debug("user preference skipped: not about marketing messages")
        return None
    choice = raw.get("value")
    stopped = _MARKETING_CHOICES.get(choice) if isinstance(choice, str) else None
    timestamp = _timestamp(raw.get("timestamp"))
    wa_id = _string(raw.get("wa_id"), MAX_ID_LENGTH)
    phone = e164(wa_id)
    _name, contact_user_id = contacts.get(wa_id or "") or (None, None)
    user_id = _string(raw.get("user_id"), MAX_ID_LENGTH) or contact_user_id
    if stopped is None or timestamp is None or (phone is None and user_id is None):
        logger.debug("user preference skipped: no usable choice, timestamp or citizen")
        return None
    return MarketingPreference(stopped=stopped, timestamp=timestamp, phone=phone, user_id=user_id)


def _status(raw: Mapping) -> StatusUpdate | None:
    message_id = _string(raw.get("id"), MAX_ID_LENGTH)
    status = _string(raw.get("status"), MAX_NAME_LENGTH)
    timestamp = _timestamp(raw.get("timestamp"))
    if message_id is None or status is None or timestamp is None:
        logger.debug("webhook status skipped: no usable id, status or timestamp")
        return None
    return StatusUpdate(
        message_id=message_id,
        status=status,
        timestamp=timestamp,
        recipient=e164(raw.get("recipient_id")),
        callback_data=_string(raw.get("biz_opaque_callback_data"), MAX_CALLBACK_LENGTH),
        errors=tuple(_errors(raw.get("errors"))),
    )


def _errors(raw: object) -> list[StatusError]:
    errors = []
    for error in _mappings(raw):
        code, title, details = error_fields(error)
        errors.append(StatusError(code=code, title=title, details=details))
    return errors


def _timestamp(value: object) -> datetime | None:
    """Unix seconds (Meta sends a string) as an aware UTC datetime; None when out of range."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not (0 < len(value) <= MAX_TIMESTAMP_DIGITS):
        return None
    if not (value.isascii() and value.isdigit()):
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _string(value: object, max_length: int) -> str | None:
    if isinstance(value, str):
        value = clean_text(value)
        if 0 < len(value) <= max_length:
            return value
    return None


def _mapping(value: object) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _mappings(value: object) -> Iterator[Mapping]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))
