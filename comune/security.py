"""Request-level protection for every page: security headers, idle sessions, the client's
address as the login lockout counts it."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

LAST_SEEN_SESSION_KEY = "last_seen"
# The session is written at most this often just to say "still here".
_LAST_SEEN_RESOLUTION_SECONDS = 60


def client_ip(request: HttpRequest) -> str:
    """The address a login attempt comes from: the one the trusted proxy appended to
    X-Forwarded-For when there is such a proxy (TRUSTED_PROXY), otherwise the peer's.
    Whatever a client wrote into that header before it is never believed."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.TRUSTED_PROXY and forwarded:
        return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def session_last_seen_start(sender: object, request: HttpRequest, **kwargs: object) -> None:
    """user_logged_in receiver: a session starts its idle clock at the login."""
    request.session[LAST_SEEN_SESSION_KEY] = int(time.time())


class IdleSessionTimeoutMiddleware:
    """Logs a user out after SESSION_IDLE_TIMEOUT without a request (SESSION_COOKIE_AGE caps
    the session's whole life)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(LAST_SEEN_SESSION_KEY)
            idle = None if last_seen is None else now - last_seen
            if idle is not None and idle > settings.SESSION_IDLE_TIMEOUT.total_seconds():
                logout(request)
            elif idle is None or idle >= _LAST_SEEN_RESOLUTION_SECONDS:
                request.session[LAST_SEEN_SESSION_KEY] = now
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
