"""Writes of the simulator: the citizen's side of a chat, played against the real webhook."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.test import Client
from django.urls import reverse

import gateway
from simulator.models import ChatMessage


def chat_messages_record_sent(*, sent: list[tuple[gateway.Message, str]]) -> None:
    """Keep what the gateway sent, as the citizen would read it."""
    ChatMessage.objects.bulk_create(
        ChatMessage(
            address=message.to,
            direction=ChatMessage.Direction.TO_CITIZEN,
            body=_readable(message),
            message_id=message_id,
        )
        for message, message_id in sent
    )


def _readable(message: gateway.Message) -> str:
    if isinstance(message, gateway.TextMessage):
        return message.body
    if message.body_text is not None:
        return message.rendered_body()
    return f"[{message.name}] " + " | ".join(message.body_parameters)


def citizen_message_send(*, phone: str, text: str, host: str, secure: bool) -> int:
    """Write `text` from `phone` (E.164) as WhatsApp would: a Meta-shaped webhook body, signed
    with the app secret, through the real webhook view. Returns the webhook's status code.

    The message enters the chat first, so that a reply sent in-process follows it.
    """
    message_id = f"wamid.simulator.{uuid.uuid4().hex}"
    ChatMessage.objects.create(
        address=phone,
        direction=ChatMessage.Direction.FROM_CITIZEN,
        body=text,
        message_id=message_id,
    )
    body = json.dumps(_payload(phone=phone, text=text, message_id=message_id)).encode()
    client = Client(HTTP_HOST=host, raise_request_exception=False)
    response = client.post(
        reverse("whatsapp-webhook"),
        body,
        content_type="application/json",
        secure=secure,
        headers={"X-Hub-Signature-256": gateway.sign(body, settings.WHATSAPP_APP_SECRET)},
    )
    return response.status_code


def _payload(*, phone: str, text: str, message_id: str) -> dict:
    """One text message, shaped as Meta's Cloud API delivers it."""
    wa_id = phone.lstrip("+")
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": settings.WHATSAPP_BUSINESS_ACCOUNT_ID or "simulator",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": settings.COMUNE_WHATSAPP_NUMBER.lstrip("+"),
                                "phone_number_id": "simulator",
                            },
                            "contacts": [{"profile": {"name": "Simulator"}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": message_id,
                                    "timestamp": str(int(datetime.now(UTC).timestamp())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
