"""The WhatsApp webhook: verify, parse, hand each event to the app that owns it."""

import io
import json
import logging

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

import gateway
from broadcasts import services as broadcast_services
from broadcasts import status_buffer
from subscribers import services as subscriber_services

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

    events = gateway.parse_webhook(payload)
    try:
        for message in events.messages:
            subscriber_services.inbound_message_receive(message=message)
        if events.statuses:
            broadcast_services.deliveries_receive_status_webhook(body=body)
    except (DatabaseError, RedisError, subscriber_services.NoCurrentPrivacyNotice):
        # Meta redelivers what did not get a 200; what was already stored is skipped then.
        logger.exception("webhook not processed, asking Meta to redeliver")
        return _refuse(503, "Temporarily unavailable, retry later.")
    for error in events.errors:
        logger.error("WhatsApp reported an account error %s: %s", error.code, error.title)
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


class StatusWebhookFastPath:
    """WSGI middleware in front of Django for the one hot request: a signed webhook POST that
    carries only statuses, about three for every message sent. With the status buffer on, it is
    buffered here without Django's request machinery (sessions, locale, CSRF, messages), which
    costs more than the work itself. Anything else, every refusal included, goes on to Django.
    """

    def __init__(self, django_app: WSGIHandler) -> None:
        self.django_app = django_app
        self.path = reverse("whatsapp-webhook")

    def __call__(self, environ: dict, start_response):
        if (
            environ.get("REQUEST_METHOD") == "POST"
            and environ.get("PATH_INFO") == self.path
            and status_buffer.enabled()
        ):
            body = self._read_body(environ)
            if body is not None and self._buffered(body, environ):
                start_response("200 OK", [("Content-Length", "0")])
                return [b""]
        return self.django_app(environ, start_response)

    @staticmethod
    def _read_body(environ: dict) -> bytes | None:
        """The body, left readable again for Django; None (unread) unless its length is sane."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if not 0 < length <= settings.WHATSAPP_WEBHOOK_MAX_BYTES:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    @staticmethod
    def _buffered(body: bytes, environ: dict) -> bool:
        signature = environ.get("HTTP_X_HUB_SIGNATURE_256")
        if not gateway.verify_signature(body, signature, settings.WHATSAPP_APP_SECRET):
            return False
        try:
            if not gateway.carries_only_statuses(json.loads(body)):
                return False
            broadcast_services.deliveries_receive_status_webhook(body=body)
        except (ValueError, RecursionError, RedisError):
            return False  # Django's view answers: 400, or 503 so that Meta redelivers
        return True
