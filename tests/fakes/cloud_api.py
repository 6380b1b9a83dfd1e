"""A local stand-in for Meta's WhatsApp Cloud API, for tests and benchmarks.

It listens on 127.0.0.1 on a free port, keeps HTTP/1.1 connections alive like Graph API does, and
records what it receives, so tests can check the exact requests and count TCP connections.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from gateway.testing import error_answer, send_answer


@dataclass(frozen=True)
class FakeRequest:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any  # the decoded body, None when it is not JSON
    received_at: float = field(default_factory=time.time)


Answer = tuple[int, Any]  # HTTP status and a JSON-serialisable body
Responder = Callable[[FakeRequest], Answer | None]


class FakeCloudAPI:
    """Answers message sends with ``wamid.<n>`` and template listings with pages.

    Failures are injected with ``fail_next()`` (queued, one per request) or by setting
    ``responder``, a callable returning ``(status, body)`` or None for the normal answer.
    ``latency`` (seconds) delays every answer, to exercise client timeouts. ``on_accepted``, when
    set, is called with each accepted send and the message id it was given, as Meta would go on
    to deliver it whether or not the answer reaches the sender.
    """

    def __init__(self, *, latency: float = 0.0, templates_page_size: int = 2) -> None:
        self.latency = latency
        self.responder: Responder | None = None
        self.on_accepted: Callable[[FakeRequest, str], None] | None = None
        self.templates: list[dict[str, Any]] = []
        self.templates_page_size = templates_page_size
        self._lock = threading.Lock()
        self._requests: list[FakeRequest] = []
        # The message sends answered with a message id, in order: what "Meta" accepted.
        self.accepted: list[FakeRequest] = []
        self._failures: deque[Answer] = deque()
        self._wamids = itertools.count(1)
        self._connections = 0
        self._sockets: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-cloud-api"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:  # idle keep-alive connections would otherwise linger
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Cloud API is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # What happened

    @property
    def requests(self) -> list[FakeRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> int:
        """TCP connections accepted so far: keep-alive shows as fewer connections than requests."""
        with self._lock:
            return self._connections

    # Shaping the answers

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 400,
        code: int | None = None,
        message: str = "",
        details: str = "",
        body: Any = None,
    ) -> None:
        """Answer the next ``n`` requests with ``status`` and a Meta error (or ``body`` as is)."""
        answer = body if body is not None else error_answer(code, message, details=details)
        with self._lock:
            self._failures.extend([(status, answer)] * n)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            self.accepted.clear()
        self.responder = None

    # Called by the handler

    def _connected(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections += 1
            self._sockets.add(sock)

    def _disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _answer(self, request: FakeRequest) -> Answer:
        with self._lock:
            self._requests.append(request)
            failure = self._failures.popleft() if self._failures else None
        if self.latency:
            time.sleep(self.latency)
        if failure is not None:
            return failure
        responder = self.responder
        answer = responder(request) if responder is not None else None
        if answer is not None:
            return answer
        if request.method == "POST" and request.path.endswith("/messages"):
            return HTTPStatus.OK, self._accepted(request)
        if request.method == "GET" and request.path.endswith("/message_templates"):
            return HTTPStatus.OK, self._templates_page(request)
        return HTTPStatus.NOT_FOUND, error_answer(100, "Unknown path")

    def _accepted(self, request: FakeRequest) -> dict[str, Any]:
        to = request.json.get("to") if isinstance(request.json, Mapping) else None
        with self._lock:
            self.accepted.append(request)
            wamid = f"wamid.{next(self._wamids)}"
        if self.on_accepted is not None:
            self.on_accepted(request, wamid)
        return send_answer(wamid, to=to if isinstance(to, str) else None)

    def _templates_page(self, request: FakeRequest) -> dict[str, Any]:
        start = int(request.query.get("after", ["0"])[0])
        end = start + self.templates_page_size
        page: dict[str, Any] = {"data": self.templates[start:end]}
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(end)}}
        if end < len(self.templates):
            paging["next"] = f"{self.url}{request.path}?after={end}"
        page["paging"] = paging
        return page


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    fake: FakeCloudAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timed out, closed its pool) is normal here, not an error."""
        if not isinstance(sys.exception(), ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._connected(self.connection)

    def finish(self) -> None:
        self.server.fake._disconnected(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = None
        url = urlsplit(self.path)
        request = FakeRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers=dict(self.headers.items()),
            body=body,
            json=decoded,
        )
        status, answer = self.server.fake._answer(request)
        self._write(status, answer)

    def _write(self, status: int, answer: Any) -> None:
        """Headers and body in one write, so each answer is one TCP segment."""
        payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            f"Connection: {'close' if self.close_connection else 'keep-alive'}\r\n"
            "\r\n"
        )
        self.wfile.write(head.encode("latin-1") + payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: test output stays readable, and request lines would carry no value."""
