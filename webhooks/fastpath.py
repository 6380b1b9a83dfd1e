"""The ASGI fast path in front of Django for the one hot request: a signed webhook POST that
carries only statuses, about three for every message sent."""

import asyncio
import json
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.urls import reverse
from redis.exceptions import RedisError

import gateway
from webhooks import services, status_buffer


class StatusWebhookFastPath:
    """ASGI app in front of Django for the one hot request: a signed webhook POST that carries
    only statuses, about three for every message sent. With the status buffer on, it is buffered
    here without Django's request machinery (sessions, locale, CSRF, messages, a thread per
    request), which costs more than the work itself. Anything else, every refusal included, goes
    on to Django with its body.

    The bodies that arrive while a push to Redis is in flight go together in the next one
    (group commit): one round trip for many POSTs, and each is answered only once its body is
    in Redis, so a 200 still means the statuses are safe.
    """

    def __init__(self, django_app: ASGIHandler) -> None:
        self.django_app = django_app
        self.path = reverse("whatsapp-webhook")
        self._pushes: _GroupCommit | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].removeprefix(scope.get("root_path", "")) == self.path
            and status_buffer.enabled()
        ):
            headers = dict(scope["headers"])
            try:
                body = await self._read_body(headers, receive)
            except _ClientLeft:
                return  # nobody to answer
            if body is not None:
                if await self._buffered(body, headers):
                    await send(
                        {"type": "http.response.start", "status": 200, "headers": _NO_CONTENT}
                    )
                    await send({"type": "http.response.body", "body": b""})
                    return
                receive = _replaying(body, receive)
        await self.django_app(scope, receive, send)

    @staticmethod
    async def _read_body(headers: dict[bytes, bytes], receive: Callable) -> bytes | None:
        """The body; None (unread) unless its declared length is sane."""
        try:
            length = int(headers.get(b"content-length", b""))
        except ValueError:
            return None
        if not 0 < length <= settings.WHATSAPP_WEBHOOK_MAX_BYTES:
            return None
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientLeft
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _buffered(self, body: bytes, headers: dict[bytes, bytes]) -> bool:
        signature = headers.get(b"x-hub-signature-256", b"").decode("latin-1")
        if not gateway.verify_signature(body, signature, settings.WHATSAPP_APP_SECRET):
            return False
        try:
            if not gateway.carries_only_statuses(json.loads(body)):
                return False
            await self._group_commit().push(body)
        except (ValueError, RecursionError, RedisError):
            return False  # Django's view answers: 400, or 503 so that Meta redelivers
        return True

    def _group_commit(self) -> "_GroupCommit":
        loop = asyncio.get_running_loop()
        if self._pushes is None or self._pushes.loop is not loop:
            store = sync_to_async(services.statuses_receive)
            self._pushes = _GroupCommit(loop, lambda bodies: store(bodies=bodies))
        return self._pushes


_NO_CONTENT = [(b"content-length", b"0")]


class _ClientLeft(Exception):
    """The client disconnected before sending its whole body."""


def _replaying(body: bytes, receive: Callable) -> Callable:
    """`receive` for Django, giving back first the body the fast path read."""
    replayed = False

    async def replay() -> dict:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class _GroupCommit:
    """Waiting items go to `commit` together, one call at a time; `push` returns once its item
    is committed, or raises what the commit raised."""

    def __init__(self, loop: asyncio.AbstractEventLoop, commit: Callable) -> None:
        self.loop = loop
        self._commit = commit
        self._waiting: list[tuple[bytes, asyncio.Future]] = []
        self._committer: asyncio.Task | None = None

    async def push(self, item: bytes) -> None:
        done = self.loop.create_future()
        self._waiting.append((item, done))
        if self._committer is None or self._committer.done():
            self._committer = self.loop.create_task(self._commit_waiting())
        await done

    async def _commit_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            error = None
            try:
                await self._commit([item for item, _ in batch])
            except Exception as failure:
                error = failure
            for _, done in batch:
                if done.done():  # its request was cancelled: the client left
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
