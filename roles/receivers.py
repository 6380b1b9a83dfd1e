"""Every failed login is logged at WARNING: who was tried and from where, never the password."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest

from comune.security import client_ip

logger = logging.getLogger("roles.login")


def login_failure_log(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """user_login_failed receiver. Django has already masked the password in `credentials`;
    only the username is read from them."""
    logger.warning(
        "Login failed for username %r from %s",
        credentials.get("username", ""),
        client_ip(request) if request is not None else "?",
    )
