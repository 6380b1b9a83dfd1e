"""Meta-shaped Cloud API JSON, written once, for the tests, the simulator and the benchmark.

What Meta POSTs to the webhook (inbound messages, status updates, account errors) and what the
Cloud API answers to a send, as plain dicts that ``json.dumps`` turns into the bytes Meta would
send. The shapes follow Meta's reference and the samples stored in ``tests/fixtures/whatsapp/``;
the defaults are those samples' ids, so that a built body can stand beside a stored one.
Standard library only: nothing here touches Django or the database.

    webhook_body(inbound_text(wa_id="393331234567", text="Iscrivimi", message_id="wamid.1"))
    webhook_body(statuses_value(status_update(wamid="wamid.1", status="read", timestamp=t)))
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

WABA_ID = "102290129340398"  # the WhatsApp Business Account, `entry[].id`
PHONE_NUMBER_ID = "106540352242922"  # the business number a webhook names in its metadata
DISPLAY_PHONE_NUMBER = "390282261"


def webhook_body(*values: JSON, waba_id: str = WABA_ID) -> JSON:
    """The envelope of every webhook POST: one entry for the business account, and one
    ``messages`` change per value (Meta batches several changes in one POST)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [{"field": "messages", "value": value} for value in values],
            }
        ],
    }


def inbound_text(
    *,
    wa_id: str,
    text: str,
    message_id: str,
    timestamp: int | datetime | None = None,
    profile_name: str = "Maria Rossi",
    phone_number_id: str = PHONE_NUMBER_ID,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
) -> JSON:
    """A change value carrying one text message and its sender's contact.

    ``wa_id`` is the sender's number as Meta writes it (digits, no ``+``); ``timestamp`` is Unix
    seconds or an aware datetime, now when omitted.
    """
    return {
        **_value_head(phone_number_id, display_phone_number),
        "contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": message_id,
                "timestamp": _unix(timestamp),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }


def statuses_value(
    *statuses: JSON,
    phone_number_id: str = PHONE_NUMBER_ID,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
) -> JSON:
    """A change value carrying status updates (see ``status_update``) and nothing else."""
    return {**_value_head(phone_number_id, display_phone_number), "statuses": list(statuses)}


def status_update(
    *,
    wamid: str,
    status: str,
    timestamp: int | datetime | None = None,
    recipient_id: str | None = None,
    callback_data: str | None = None,
    category: str | None = None,
    conversation_id: str | None = None,
    errors: tuple[JSON, ...] = (),
) -> JSON:
    """One status of a message we sent: ``sent``, ``delivered``, ``read`` or ``failed``.

    ``recipient_id`` is the citizen's number without ``+``; ``callback_data`` comes back as
    ``biz_opaque_callback_data``, as given at send time. ``category`` adds the per-message
    ``pricing`` block (billable, PMP, regular) and ``conversation_id`` the ``conversation``
    block Meta may also send, of the same category; ``errors`` (see ``webhook_error``) explain
    a ``failed``. Each optional key is written only when given, as Meta leaves them out.
    """
    update: JSON = {"id": wamid, "status": status, "timestamp": _unix(timestamp)}
    if recipient_id is not None:
        update["recipient_id"] = recipient_id
    if callback_data is not None:
        update["biz_opaque_callback_data"] = callback_data
    if conversation_id is not None:
        update["conversation"] = {
            "id": conversation_id,
            "origin": {"type": category or "utility"},
        }
    if category is not None:
        update["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": category,
        }
    if errors:
        update["errors"] = list(errors)
    return update


def errors_value(
    *errors: JSON,
    phone_number_id: str = PHONE_NUMBER_ID,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
) -> JSON:
    """A change value carrying account-level errors (see ``webhook_error``), no message."""
    return {**_value_head(phone_number_id, display_phone_number), "errors": list(errors)}


def webhook_error(code: int, title: str, *, message: str = "", details: str = "") -> JSON:
    """An error as webhooks carry it, in a failed status or at account level; ``message``
    defaults to the title."""
    error: JSON = {"code": code, "title": title, "message": message or title}
    if details:
        error["error_data"] = {"details": details}
    return error


def send_answer(wamid: str, *, to: str | None = None) -> JSON:
    """The Cloud API's answer to an accepted send: the new message's id and, when ``to`` is
    given (as the send wrote it, with ``+``), the contact it resolved to."""
    answer: JSON = {"messaging_product": "whatsapp"}
    if to is not None:
        answer["contacts"] = [{"input": to, "wa_id": to.lstrip("+")}]
    answer["messages"] = [{"id": wamid}]
    return answer


def error_answer(
    code: int | None, message: str = "", *, details: str = "", fbtrace_id: str = ""
) -> JSON:
    """The Graph API's error answer to a request; ``code`` None leaves the code out, as some
    proxies' and outages' answers do, and ``message`` defaults to ``(#code) fake error``."""
    error: JSON = {"message": message or f"(#{code}) fake error", "type": "OAuthException"}
    if code is not None:
        error["code"] = code
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if fbtrace_id:
        error["fbtrace_id"] = fbtrace_id
    return {"error": error}


def _value_head(phone_number_id: str, display_phone_number: str) -> JSON:
    return {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }


def _unix(timestamp: int | datetime | None) -> str:
    """Unix seconds as Meta writes them: a string."""
    if timestamp is None:
        timestamp = datetime.now(UTC)
    if isinstance(timestamp, datetime):
        timestamp = int(timestamp.timestamp())
    return str(timestamp)
