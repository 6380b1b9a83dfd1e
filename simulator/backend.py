"""The simulator's gateway backend: prints like the console backend and keeps each message for
the simulator's chat. It lives here, not in the gateway, because it stores them with the ORM."""

from __future__ import annotations

import threading
from typing import Any

from gateway.backends.console import ConsoleBackend
from gateway.types import Message, SendResult


class SimulatorBackend(ConsoleBackend):
    """Messages sent while the backend is open are stored together when it closes, from the
    thread that opened it (a broadcast sends from a pool of threads); a message sent without
    opening it is stored at once."""

    def __init__(self, fail_silently: bool = False, **options: Any) -> None:
        super().__init__(fail_silently, **options)
        self._pending: list[tuple[Message, str]] = []
        self._pending_lock = threading.Lock()
        self._is_open = False

    def open(self) -> bool:
        if self._is_open:
            return False
        self._is_open = True
        return True

    def close(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
            self._is_open = False
        _store(pending)

    def _send(self, message: Message) -> SendResult:
        result = super()._send(message)
        sent = (message, result.message_id or "")
        with self._pending_lock:
            if self._is_open:
                self._pending.append(sent)
                return result
        _store([sent])
        return result


def _store(sent: list[tuple[Message, str]]) -> None:
    if sent:
        from simulator import services

        services.chat_messages_record_sent(sent=sent)
