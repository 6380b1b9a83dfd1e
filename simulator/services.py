"""Writes of the simulator: the citizen's side of a chat, played against the real webhook."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.test import Client
from django.urls import reverse

import gateway
from gateway.testing import inbound_text, webhook_body
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
    value = inbound_text(
        wa_id=phone.lstrip("+"),
        text=text,
        message_id=message_id,
        profile_name="Simulator",
        # Our own number, as Meta names it: the webhook ignores any other.
        phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID or "simulator",
        display_phone_number=settings.COMUNE_WHATSAPP_NUMBER.lstrip("+"),
    )
    payload = webhook_body(value, waba_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID or "simulator")
    body = json.dumps(payload).encode()
    client = Client(HTTP_HOST=host, raise_request_exception=False)
    response = client.post(
        reverse("whatsapp-webhook"),
        body,
        content_type="application/json",
        secure=secure,
        headers={"X-Hub-Signature-256": gateway.sign(body, settings.WHATSAPP_APP_SECRET)},
    )
    return response.status_code
