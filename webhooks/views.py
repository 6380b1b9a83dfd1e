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
from webhooks.services import webhook_ours, webhook_receive

logger = logging.getLogger(__name__)


def _refuse(status: int, reason: str) -> HttpResponse:
    return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _verification_handshake(request)

    # Refused before a byte of the body is read.
    signature = request.headers.get("X-Hub-Signature-256")
    if signature is not None and "," in signature:
        # Two headers, joined by the server: which one would count?
        return _refuse(400, "More than one X-Hub-Signature-256.")
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # A WSGI server hands Django no length to read it to (the ASGI fast path reads it).
        return _refuse(411, "Content-Length required.")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not (declared.isascii() and declared.isdigit() and len(declared) <= 18):
        return _refuse(400, "Invalid Content-Length.")
    if int(declared) > settings.WHATSAPP_WEBHOOK_MAX_BYTES:
        return _refuse(413, "Body too large.")
    body = request.body
    # No state changes before the signature over the raw body is verified.
    if not gateway.verify_signature(body, signature, settings.WHATSAPP_APP_SECRET):
        return _refuse(403, "Missing or invalid X-Hub-Signature-256.")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return _refuse(400, "Body is not valid JSON.")
    body, payload = webhook_ours(body=body, payload=payload)
    too_large_for_statuses = len(body) > settings.WHATSAPP_STATUS_WEBHOOK_MAX_BYTES
    if too_large_for_statuses and gateway.carries_only_statuses(payload):
        # Not Meta's (a few KB), and the drain reads a thousand buffered bodies at a time.
        logger.warning("a status webhook of %d bytes refused (413)", len(body))
        return _refuse(413, "Status webhook too large.")

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
