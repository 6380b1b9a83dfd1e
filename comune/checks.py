"""Deployment checks of our own, run by `manage.py check --deploy` beside Django's: a
production configuration that would pass Django's checks and still be wrong for this product."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from gateway import BACKEND_ALIASES

# Backends that reach no citizen: for development and tests only.
DEVELOPMENT_BACKENDS = ("console", "locmem", "dummy")


@register(Tags.security, deploy=True)
def production_configuration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.DEBUG:
        return []
    errors: list[CheckMessage] = []
    if settings.SIMULATOR_ENABLED:
        errors.append(
            Error(
                "SIMULATOR_ENABLED is on in production: anyone on the staff could play a citizen.",
                hint="Unset SIMULATOR_ENABLED (it follows DEBUG).",
                id="comune.E001",
            )
        )
    site = urlparse(settings.SITE_URL)
    if site.scheme != "https" or not site.netloc:
        errors.append(
            Error(
                f"SITE_URL is {settings.SITE_URL!r}: the links sent to citizens and staff need "
                "the product's public https address.",
                hint="Set SITE_URL, e.g. https://info.comune.example.it",
                id="comune.E002",
            )
        )
    development = {BACKEND_ALIASES[alias] for alias in DEVELOPMENT_BACKENDS}
    if settings.WHATSAPP_GATEWAY["BACKEND"] in development | {settings.SIMULATOR_BACKEND}:
        errors.append(
            Error(
                f"WHATSAPP_BACKEND is {settings.WHATSAPP_BACKEND!r}: no message reaches a citizen.",
                hint="Set WHATSAPP_BACKEND=cloud with its number id and token.",
                id="comune.E003",
            )
        )
    return errors
