"""A backend that sends nothing and accepts everything, like Django's dummy mail backend."""

from __future__ import annotations

import uuid

from gateway.backends.base import BaseBackend
from gateway.types import Message, SendResult


class DummyBackend(BaseBackend):
    def _send(self, message: Message) -> SendResult:
        return SendResult(message=message, message_id=f"dummy.{uuid.uuid4().hex}")
