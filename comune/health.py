"""GET /healthz: whether this process can reach what it needs, for the container's health check
and a load balancer. It answers 200 when the database answers a query and the broker a ping,
503 naming the part that failed otherwise; it says nothing else (no personal data, no
addresses, no error texts: those go to the log)."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

OK = "ok"
UNAVAILABLE = "unavailable"
# Without REDIS_URL tasks run in the web process itself (bin/run): there is no broker to reach.
IN_PROCESS = "in-process"
# A health check that waits longer than its caller's timeout tells nothing.
BROKER_TIMEOUT_SECONDS = 2.0


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("healthz: the database does not answer (%s)", type(error).__name__)
        return UNAVAILABLE
    return OK


def _broker() -> str:
    if not settings.REDIS_URL:
        return IN_PROCESS
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
        socket_timeout=BROKER_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        logger.warning("healthz: the broker does not answer (%s)", type(error).__name__)
        return UNAVAILABLE
    finally:
        client.close()
    return OK


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker()}
    healthy = UNAVAILABLE not in checks.values()
    return JsonResponse(
        {"status": OK if healthy else UNAVAILABLE, **checks}, status=200 if healthy else 503
    )
