"""The WhatsApp Cloud API backend: Meta's Graph API over one pooled HTTP session."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from gateway.backends.base import BaseBackend
from gateway.errors import send_error_from_exception, send_error_from_response
from gateway.exceptions import GatewayAPIError, GatewayConfigurationError
from gateway.types import ErrorKind, Message, SendError, SendResult, TemplateMessage

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v23.0"
MAX_TEMPLATE_PAGES = 100  # 250 templates per account at most: a loop past this is a bad cursor

# Failures on the network: before the connection was made nothing was sent (RETRY); after it,
# Meta may have accepted the message and only its status webhook can tell (UNKNOWN). See
# `gateway.errors.send_error_from_exception`.
NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class CloudBackend(BaseBackend):
    """Sends through ``POST {api_url}/{api_version}/{phone_number_id}/messages``.

    One ``requests.Session`` per backend, with a single pool of up to ``pool_size`` keep-alive
    connections, is opened by ``open()`` or by the first send and kept until ``close()``; the
    sends of a batch share it. Proxies and the CA bundle come from the environment
    (``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE`` …) as it is when the session opens. Concurrent
    ``send()`` calls from several threads share the pool; threads beyond ``pool_size`` wait for a
    free connection rather than opening extra ones. urllib3's own retries are off: whether to retry
    is the caller's decision, made from the classified error.
    """

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        phone_number_id: str = "",
        access_token: str = "",
        api_url: str = DEFAULT_API_URL,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 10.0,
        pool_size: int = 128,
        **options: Any,
    ) -> None:
        super().__init__(fail_silently, **options)
        if not access_token:
            raise GatewayConfigurationError("WHATSAPP_GATEWAY OPTIONS need an access_token")
        if not phone_number_id:
            raise GatewayConfigurationError("WHATSAPP_GATEWAY OPTIONS need a phone_number_id")
        if not api_url.startswith(("https://", "http://")):
            raise GatewayConfigurationError(f"api_url must be an http(s) URL, not {api_url!r}")
        if not api_version:
            raise GatewayConfigurationError("api_version must not be empty")
        if timeout <= 0 or pool_size < 1:
            raise GatewayConfigurationError("timeout must be positive and pool_size at least 1")
        self.base_url = f"{api_url.rstrip('/')}/{api_version}"
        self.messages_url = f"{self.base_url}/{phone_number_id}/messages"
        self.timeout = timeout
        self.pool_size = pool_size
        self._access_token = access_token
        self._pool: _Pool | None = None
        self._lock = threading.Lock()

    def open(self) -> bool:
        with self._lock:
            if self._pool is not None:
                return False
            session = requests.Session()
            adapter = HTTPAdapter(
                pool_connections=1, pool_maxsize=self.pool_size, max_retries=0, pool_block=True
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["Authorization"] = f"Bearer {self._access_token}"
            session.headers["User-Agent"] = "InfoComune-gateway"
            # requests reads the environment (proxies, CA bundle, ~/.netrc) again on every
            # request: a third of a send's CPU. Read it once, here, for Meta's host.
            environment = session.merge_environment_settings(self.base_url, {}, None, None, None)
            session.proxies, session.verify = environment["proxies"], environment["verify"]
            session.trust_env = False
            send = session.prepare_request(requests.Request("POST", self.messages_url))
            self._pool = _Pool(session, adapter, send)
            return True

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.session.close()

    def _send(self, message: Message) -> SendResult:
        try:
            pool = self._get_pool()
            # The prepared POST, with only its body new, straight to the connection pool:
            # the session's own request path (cookies, hooks, redirects) doubled a send's CPU.
            request = pool.send_template.copy()
            request.prepare_body(data=None, files=None, json=message_payload(message))
            response = pool.adapter.send(
                request,
                timeout=self.timeout,
                verify=pool.session.verify,
                proxies=pool.session.proxies,
            )
        except NETWORK_ERRORS as exc:
            error = send_error_from_exception(exc)
            logger.info("WhatsApp send failed on the network: %s", error.title)
            return SendResult(message=message, error=error)
        body = _json(response)
        if response.ok:
            message_id = _message_id(body)
            if message_id is not None:
                return SendResult(message=message, message_id=message_id)
            error = SendError(
                kind=ErrorKind.RETRY,
                code=None,
                title=f"HTTP {response.status_code} answer without a message id",
            )
        else:
            error = send_error_from_response(body, response.status_code)
        log = logger.error if error.kind is ErrorKind.FATAL else logger.info
        log("WhatsApp refused a message: %s code=%s %s", error.kind, error.code, error.title)
        return SendResult(message=message, error=error)

    def list_templates(self, waba_id: str) -> list[dict[str, Any]]:
        """Every template of the business account, following Meta's paging cursors.

        Each is a plain dict: id, name, language, category, status (as Meta spells them), header
        and body (the components' text with ``{{n}}`` placeholders, None when absent). Raises
        ``GatewayAPIError`` when Meta or the network fails: a partial list would look like
        deleted templates.
        """
        url: str | None = f"{self.base_url}/{waba_id}/message_templates"
        params: dict[str, Any] | None = {"limit": 100}
        templates: list[dict[str, Any]] = []
        for _ in range(MAX_TEMPLATE_PAGES):
            if url is None:
                return templates
            page = self._get_json(url, params)
            templates += [t for t in map(_template, _list(page.get("data"))) if t is not None]
            paging = page.get("paging")
            next_url = paging.get("next") if isinstance(paging, Mapping) else None
            url, params = (next_url if isinstance(next_url, str) else None), None
            if url is not None and not self._is_own_url(url):
                # The request carries the access token: it goes nowhere but the API itself.
                raise GatewayAPIError(
                    SendError(
                        kind=ErrorKind.FATAL, code=None, title="template paging leaves the API"
                    )
                )
        raise GatewayAPIError(
            SendError(kind=ErrorKind.FATAL, code=None, title="template paging does not end")
        )

    def _is_own_url(self, url: str) -> bool:
        """Whether `url` has the API's own scheme, host and port."""
        own, other = urlsplit(self.base_url), urlsplit(url)
        return (own.scheme, own.netloc) == (other.scheme, other.netloc)

    def _get_json(self, url: str, params: Mapping[str, Any] | None) -> Mapping[str, Any]:
        try:
            response = self._get_pool().session.get(url, params=params, timeout=self.timeout)
        except NETWORK_ERRORS as exc:
            raise GatewayAPIError(send_error_from_exception(exc)) from exc
        body = _json(response)
        if not response.ok:
            raise GatewayAPIError(send_error_from_response(body, response.status_code))
        if not isinstance(body, Mapping):
            raise GatewayAPIError(
                SendError(kind=ErrorKind.RETRY, code=None, title="template list is not JSON")
            )
        return body

    def _get_pool(self) -> _Pool:
        self.open()
        pool = self._pool
        if pool is None:  # closed by another thread between open() and here
            raise RuntimeError("the backend was closed while sending")
        return pool


class _Pool(NamedTuple):
    """What `open()` makes: the session, its one connection pool, and the prepared send."""

    session: requests.Session
    adapter: HTTPAdapter
    send_template: requests.PreparedRequest


def message_payload(message: Message) -> dict[str, Any]:
    """The JSON body Meta expects for ``message``."""
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to,
    }
    if isinstance(message, TemplateMessage):
        components = [
            {"type": kind, "parameters": [{"type": "text", "text": value} for value in values]}
            for kind, values in (
                ("header", message.header_parameters),
                ("body", message.body_parameters),
            )
            if values
        ]
        payload["type"] = "template"
        payload["template"] = {
            "name": message.name,
            "language": {"code": message.language},
            "components": components,
        }
    else:
        payload["type"] = "text"
        payload["text"] = {"body": message.body, "preview_url": message.preview_url}
    if message.callback_data is not None:
        payload["biz_opaque_callback_data"] = message.callback_data
    return payload


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _message_id(body: object) -> str | None:
    messages = body.get("messages") if isinstance(body, Mapping) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    message_id = first.get("id") if isinstance(first, Mapping) else None
    return message_id if isinstance(message_id, str) and message_id else None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _template(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    name, language = raw.get("name"), raw.get("language")
    if not isinstance(name, str) or not isinstance(language, str):
        return None
    texts: dict[str, str] = {}
    for component in _list(raw.get("components")):
        if isinstance(component, Mapping) and isinstance(component.get("text"), str):
            texts.setdefault(str(component.get("type", "")).upper(), component["text"])
    return {
        "id": raw.get("id"),
        "name": name,
        "language": language,
        "category": raw.get("category"),
        "status": raw.get("status"),
        "header": texts.get("HEADER"),
        "body": texts.get("BODY"),
    }
