"""The ASGI fast path in front of Django for the one hot request: a signed webhook POST that
carries only statuses, about three for every message sent. It also reads every webhook POST's
body against the limits, which Django's ASGI handler would read to the end first."""

import asyncio
import json
import logging
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import DatabaseError
from django.urls import reverse

import gateway
from webhooks import services, status_buffer

logger = logging.getLogger(__name__)


class StatusWebhookFastPath:
    """ASGI app in front of Django for the one hot request: a signed webhook POST that carries
    only statuses, about three for every message sent. With the status buffer on, it is buffered
    here without Django's request machinery (sessions, locale, CSRF, messages, a thread per
    request), which costs more than the work itself. Anything else goes on to Django with its
    body, and so does every refusal but those that spare reading the body, or reading it to the
    end: two signatures (400), a body too large (413), too slow (408), or one too many being read
    at once in this process (503, Retry-After).

    The bodies that arrive while a push to the database is in flight go together in the next
    one (group commit): one INSERT for many POSTs, and each is answered only once its body is
    committed, so a 200 means the statuses are safe.
    """

    def __init__(self, django_app: ASGIHandler) -> None:
        self.django_app = django_app
        self.path = reverse("whatsapp-webhook")
        self._pushes: _GroupCommit | None = None
        self._reading = 0  # bodies being read now (one event loop: no lock needed)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].removeprefix(scope.get("root_path", "")) == self.path
        ):
            await self.django_app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            body = await self._read_body(scope["headers"], receive)
        except _Refused as refused:
            await _answer(send, refused.status, refused.reason, refused.headers)
            return
        except _ClientLeft:
            return  # nobody to answer
        if status_buffer.enabled() and await self._buffered(body, headers):
            await _answer(send, 200, b"")
            return
        # Django reads the body from here, with its length (a chunked one has none).
        scope = {**scope, "headers": _with_length(scope["headers"], len(body))}
        await self.django_app(scope, _replaying(body, receive), send)

    async def _read_body(self, headers: list[tuple[bytes, bytes]], receive: Callable) -> bytes:
        """The body, read to at most the limit, in time; or `_Refused` as soon as it is clear
        that it will not be, without reading the rest."""
        if [name for name, _ in headers].count(b"x-hub-signature-256") > 1:
            # Which one would count? Django would join them, this path kept the last.
            raise _Refused(400, b"More than one X-Hub-Signature-256.")
        limit = settings.WHATSAPP_WEBHOOK_MAX_BYTES
        declared = dict(headers).get(b"content-length")
        if declared is not None:
            if not (declared.isdigit() and len(declared) <= 18):
                raise _Refused(400, b"Invalid Content-Length.")
            if int(declared) > limit:
                raise _Refused(413, b"Body too large.")
        if self._reading >= settings.WHATSAPP_WEBHOOK_MAX_READING:
            retry = [(b"retry-after", str(_RETRY_AFTER_SECONDS).encode())]
            raise _Refused(503, b"Too many webhooks at once, retry later.", retry)
        self._reading += 1
        try:
            async with asyncio.timeout(settings.WHATSAPP_WEBHOOK_BODY_TIMEOUT_SECONDS):
                return await _read_to(limit, receive)
        except TimeoutError:
            logger.warning(
                "webhook body not received within %s s: answered 408",
                settings.WHATSAPP_WEBHOOK_BODY_TIMEOUT_SECONDS,
            )
            raise _Refused(408, b"Body not received in time.") from None
        finally:
            self._reading -= 1

    async def _buffered(self, body: bytes, headers: dict[bytes, bytes]) -> bool:
        if len(body) > settings.WHATSAPP_STATUS_WEBHOOK_MAX_BYTES:
            return False  # Django's view answers: 413 if it carries only statuses
        signature = headers.get(b"x-hub-signature-256", b"").decode("latin-1")
        if not gateway.verify_signature(body, signature, settings.WHATSAPP_APP_SECRET):
            return False
        try:
            body, payload = services.webhook_ours(body=body, payload=json.loads(body))
            if not gateway.carries_only_statuses(payload):
                return False  # statuses for another number only: the view answers 200
            await self._group_commit().push(body)
        except (ValueError, RecursionError, DatabaseError):
            return False  # Django's view answers: 400, or 503 so that Meta redelivers
        return True

    def _group_commit(self) -> "_GroupCommit":
        loop = asyncio.get_running_loop()
        if self._pushes is None or self._pushes.loop is not loop:
            store = sync_to_async(services.statuses_receive)
            self._pushes = _GroupCommit(loop, lambda bodies: store(bodies=bodies))
        return self._pushes


# What a client told "too many at once" should wait before trying again.
_RETRY_AFTER_SECONDS = 5


class _ClientLeft(Exception):
    """The client disconnected before sending its whole body."""


class _Refused(Exception):
    """A request answered here, with a reason, its body not read (to the end)."""

    def __init__(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        super().__init__(status, reason)
        self.status, self.reason, self.headers = status, reason, headers or []


async def _read_to(limit: int, receive: Callable) -> bytes:
    """The body's chunks until it ends; `_Refused` (413) as soon as they pass the limit."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientLeft
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Refused(413, b"Body too large.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(
    send: Callable, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    content = [(b"content-type", b"text/plain; charset=utf-8")] if body else []
    content.append((b"content-length", str(len(body)).encode()))
    await send(
        {"type": "http.response.start", "status": status, "headers": content + (headers or [])}
    )
    await send({"type": "http.response.body", "body": body})


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    framing = (b"content-length", b"transfer-encoding")
    kept = [(name, value) for name, value in headers if name not in framing]
    return [*kept, (b"content-length", str(length).encode())]


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
