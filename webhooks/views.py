"""The WhatsApp webhook view: verify, parse, hand the events on (webhooks.services)."""

import json
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

import gateway
from subscribers.services.consent import NoCurrentPrivacyNotice
from webhooks.services import webhook_receive

logger = logging.getLogger(__name__)


def _refuse(status: int, reason: str) -> HttpResponse:
    return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _verification_handshake(request)

    try:
        declared_length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _refuse(400, "Invalid Content-Length.")
    if declared_length > settings.WHATSAPP_WEBHOOK_MAX_BYTES:
        return _refuse(413, "Body too large.")
    body = request.body
    # No state changes before the signature over the raw body is verified.
    signature = request.headers.get("X-Hub-Signature-256")
    if not gateway.verify_signature(body, signature, settings.WHATSAPP_APP_SECRET):
        return _refuse(403, "Missing or invalid X-Hub-Signature-256.")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return _refuse(400, "Body is not valid JSON.")

    try:
        webhook_receive(body=body, events=gateway.parse_webhook(payload))
    except (DatabaseError, RedisError, NoCurrentPrivacyNotice):
        # Meta redelivers what did not get a 200; what was already stored is skipped then.
        logger.exception("webhook not processed, asking Meta to redeliver")
        return _refuse(503, "Temporarily unavailable, retry later.")
    return HttpResponse(status=200)


def _verification_handshake(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge")
    expected = settings.WHATSAPP_VERIFY_TOKEN
    if mode != "subscribe" or not expected or not constant_time_compare(token, expected):
        return _refuse(403, "Verification token mismatch.")
    if not challenge:
        return _refuse(400, "Missing hub.challenge.")
    return HttpResponse(challenge, content_type="text/plain; charset=utf-8")
