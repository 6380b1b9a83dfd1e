"""Exceptions the gateway raises: only for problems a retry cannot fix.

Meta's answers about a message (rate limits, unknown recipients, expired tokens…) are not raised:
they come back as ``SendResult.error`` so that a batch never stops halfway through.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from gateway.types import SendError


class GatewayConfigurationError(ImproperlyConfigured):
    """The gateway settings cannot work (no token, no phone number id, unknown backend).

    A subclass of Django's ImproperlyConfigured so that a misconfigured deployment fails at start,
    loudly, in the way Django operators already know.
    """


class GatewayAPIError(Exception):
    """A call that is not a message send (listing templates) failed; ``error`` says how."""

    def __init__(self, error: SendError) -> None:
        code = f" (code {error.code})" if error.code is not None else ""
        super().__init__(f"{error.kind}: {error.title}{code}")
        self.error = error
