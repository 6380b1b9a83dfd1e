"""A backend for development: each message is printed as a readable block instead of sent."""

from __future__ import annotations

import sys
import threading
import uuid
from typing import Any, TextIO

from gateway.backends.base import BaseBackend
from gateway.types import Message, SendResult, TemplateMessage

_RULE = "-" * 72


class ConsoleBackend(BaseBackend):
    """Writes what the citizen would read to ``stream`` (standard output by default)."""

    def __init__(
        self, fail_silently: bool = False, *, stream: TextIO | None = None, **options: Any
    ) -> None:
        super().__init__(fail_silently, **options)
        self.stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()

    def _send(self, message: Message) -> SendResult:
        message_id = f"console.{uuid.uuid4().hex}"
        block = "\n".join([_RULE, *_describe(message, message_id), _RULE, ""])
        with self._lock:
            self.stream.write(block)
            self.stream.flush()
        return SendResult(message=message, message_id=message_id)


def _describe(message: Message, message_id: str) -> list[str]:
    lines = [f"WhatsApp message {message_id}", f"To: {message.to}"]
    if message.callback_data is not None:
        lines.append(f"Callback data: {message.callback_data}")
    if not isinstance(message, TemplateMessage):
        return [*lines, "Type: text", "", message.body]
    lines += [f"Type: template {message.name} ({message.language})"]
    if message.header_parameters:
        lines.append("Header parameters: " + " | ".join(message.header_parameters))
    if message.body_text is not None:
        return [*lines, "", message.rendered_body()]
    return [*lines, "Body parameters: " + " | ".join(message.body_parameters)]
