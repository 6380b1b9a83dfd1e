"""The WhatsApp gateway: the only part of InfoComune that speaks Meta's Cloud API.

Shaped like Django's mail backends: ``settings.WHATSAPP_GATEWAY`` names a backend and its options,
``get_backend()`` builds it, and the locmem backend collects sent messages in ``outbox`` for tests.
"""

from __future__ import annotations

from typing import Any

from gateway.backends.base import BaseBackend
from gateway.errors import classify_error, clean_text, recipient_condition, retry_after
from gateway.exceptions import GatewayAPIError, GatewayConfigurationError
from gateway.parsing import addressed_to, carries_only_statuses, parse_webhook
from gateway.signature import sign, verify_signature
from gateway.types import (
    CUSTOMER_SERVICE_WINDOW,
    ErrorKind,
    InboundKind,
    InboundMessage,
    MarketingPreference,
    Message,
    RecipientCondition,
    SendError,
    SendResult,
    StatusError,
    StatusUpdate,
    TemplateMessage,
    TextMessage,
    WebhookEvents,
    window_open,
)

__all__ = [
    "BACKEND_ALIASES",
    "CUSTOMER_SERVICE_WINDOW",
    "BaseBackend",
    "ErrorKind",
    "GatewayAPIError",
    "GatewayConfigurationError",
    "InboundKind",
    "InboundMessage",
    "MarketingPreference",
    "Message",
    "RecipientCondition",
    "SendError",
    "SendResult",
    "StatusError",
    "StatusUpdate",
    "TemplateMessage",
    "TextMessage",
    "WebhookEvents",
    "addressed_to",
    "carries_only_statuses",
    "classify_error",
    "clean_text",
    "get_backend",
    "outbox",
    "parse_webhook",
    "recipient_condition",
    "retry_after",
    "sign",
    "verify_signature",
    "window_open",
]

# The Message objects the locmem backend "sent", oldest first. Tests clear it between cases.
outbox: list[Message] = []

# Short names accepted for BACKEND, matching the WHATSAPP_BACKEND environment values.
BACKEND_ALIASES = {
    "cloud": "gateway.backends.cloud.CloudBackend",
    "console": "gateway.backends.console.ConsoleBackend",
    "locmem": "gateway.backends.locmem.LocmemBackend",
    "dummy": "gateway.backends.dummy.DummyBackend",
}


def get_backend(backend: str | None = None, **options: Any) -> BaseBackend:
    """Build the configured backend, like ``django.core.mail.get_connection``.

    ``backend`` (a dotted path or an alias) overrides ``WHATSAPP_GATEWAY["BACKEND"]``; keyword
    options override ``WHATSAPP_GATEWAY["OPTIONS"]``. Every send takes a slot of the number's
    one rate limit (``gateway.ratelimit.rate_limiter``). Nothing connects until the first send.
    """
    from django.conf import settings
    from django.utils.module_loading import import_string

    from gateway.ratelimit import rate_limiter

    config = getattr(settings, "WHATSAPP_GATEWAY", None) or {}
    path = backend or config.get("BACKEND")
    if not path:
        raise GatewayConfigurationError("settings.WHATSAPP_GATEWAY['BACKEND'] is not set")
    path = BACKEND_ALIASES.get(path, path)
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise GatewayConfigurationError(f"cannot import the WhatsApp backend {path!r}") from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
        raise GatewayConfigurationError(f"{path!r} is not a gateway backend")
    shared = {
        "limiter": rate_limiter(),
        "rate_limited_pause": settings.BROADCAST_RATE_LIMITED_PAUSE_SECONDS,
    }
    return backend_class(**{**shared, **config.get("OPTIONS", {}), **options})
