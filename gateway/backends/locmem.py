"""A backend for tests: messages land in ``gateway.outbox``, like ``django.core.mail.outbox``."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from typing import Any

import gateway
from gateway.backends.base import BaseBackend
from gateway.types import Message, SendResult


class LocmemBackend(BaseBackend):
    """Appends each sent ``Message`` object itself to ``gateway.outbox`` and accepts it.

    The outbox is looked up at every send, so a test may reset it with ``gateway.outbox.clear()``
    or rebind ``gateway.outbox = []``. The ``templates`` option is what ``list_templates`` returns,
    so template synchronisation can be tested without Meta.
    """

    _lock = threading.Lock()

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        templates: Sequence[dict[str, Any]] = (),
        **options: Any,
    ) -> None:
        super().__init__(fail_silently, **options)
        self.templates = [dict(template) for template in templates]

    def _send(self, message: Message) -> SendResult:
        with self._lock:
            gateway.outbox.append(message)
        return SendResult(message=message, message_id=f"locmem.{uuid.uuid4().hex}")

    def list_templates(self, waba_id: str) -> list[dict[str, Any]]:
        return [dict(template) for template in self.templates]
