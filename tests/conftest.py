import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import TestCase
from django.utils import translation

import gateway
from broadcasts.models import Broadcast, MessageTemplate
from broadcasts.services import authoring
from gateway.testing import inbound_text, webhook_body
from subscribers.models import ConsentRecord
from subscribers.services.consent import subscriber_subscribe, subscriber_unsubscribe
from tests.factories import MessageTemplateFactory, log_in, staff

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
ON_CI = os.environ.get("CI") == "true"


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    """On CI the real services are part of what is proven: their absence fails the run."""
    if not ON_CI:
        return
    problems = []
    if "postgresql" not in django_settings.DATABASES["default"]["ENGINE"]:
        problems.append("DATABASE_URL does not point at PostgreSQL")
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    if not redis_url or not _reachable(redis_url):
        problems.append(f"Redis is not reachable at TEST_REDIS_URL={redis_url!r}")
    if problems:
        pytest.exit("CI=true but " + "; ".join(problems), returncode=1)


@pytest.fixture
def redis_url() -> str:
    """The real Redis the service tests use; they skip without it, except on CI."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not _reachable(url):
        pytest.skip(f"needs Redis at {url} (set TEST_REDIS_URL; CI requires it)")
    return url


@pytest.fixture
def postgres(db) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://… (CI=true does)")


@pytest.fixture(autouse=True)
def english_source_strings():
    """Tests read the source strings; the Italian translation is checked where it is shown."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def whatsapp_outbox() -> list:
    """The locmem gateway's outbox, emptied for every test, like Django's mail.outbox."""
    gateway.outbox.clear()
    return gateway.outbox


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's superuser client, its second factor verified as after the login."""
    log_in(client, admin_user)
    return client


@pytest.fixture
def privacy_notice(db):
    from subscribers.services.consent import privacy_notice_publish

    return privacy_notice_publish(version="1.0", title="Informativa", body="Testo.")


def load_payload(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def text_payload(
    text: str,
    *,
    phone: str = "393331234567",
    wamid: str = "wamid.test1",
    at: datetime | None = None,
) -> dict:
    """A Meta webhook body carrying one text message."""
    value = inbound_text(
        wa_id=phone, text=text, message_id=wamid, timestamp=at, profile_name="Maria"
    )
    return webhook_body(value)


@pytest.fixture
def post_webhook(client, settings):
    """POST a body to the webhook as Meta would: signed with the app secret over the raw bytes."""

    def post(payload: dict | bytes, *, signature: str | None = "valid", **headers):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if signature == "valid":
            signature = gateway.sign(body, settings.WHATSAPP_APP_SECRET)
        if signature is not None:
            headers["HTTP_X_HUB_SIGNATURE_256"] = signature
        return client.generic(
            "POST", "/webhooks/whatsapp/", body, content_type="application/json", **headers
        )

    return post


# --- Staff, citizens and a draft, made as users make them -------------------------------------

EDITOR_PERMISSIONS = ("add_broadcast", "change_broadcast", "view_broadcast")


@pytest.fixture
def editor(db) -> User:
    return staff("editor", *EDITOR_PERMISSIONS)


@pytest.fixture
def approver(db) -> User:
    return staff("approver", *EDITOR_PERMISSIONS, "approve_broadcast")


@pytest.fixture
def emergency_sender(db) -> User:
    """The mayor or civil protection: may send an emergency alone."""
    return staff("sindaco", *EDITOR_PERMISSIONS, "approve_broadcast", "send_emergency_alone")


@pytest.fixture
def subscribe(privacy_notice):
    """Subscribe citizens through the same service a keyword uses."""

    def subscribe(*phones: str, at: datetime | None = None) -> None:
        for phone in phones:
            subscriber_subscribe(
                phone=phone,
                occurred_at=at or datetime.now(UTC) - timedelta(days=2),
                channel=ConsentRecord.Channel.WHATSAPP,
                evidence={"message_id": f"wamid.{phone}", "text": "Iscrivimi"},
            )

    return subscribe


@pytest.fixture
def unsubscribe(privacy_notice):
    def unsubscribe(phone: str) -> None:
        subscriber_unsubscribe(
            phone=phone,
            occurred_at=datetime.now(UTC),
            channel=ConsentRecord.Channel.WHATSAPP,
            evidence={"message_id": f"wamid.bye.{phone}", "text": "Cancellami"},
        )

    return unsubscribe


@pytest.fixture
def template(db) -> MessageTemplate:
    return MessageTemplateFactory(name="avviso_comune")


@pytest.fixture
def draft(editor, template) -> Broadcast:
    return authoring.broadcast_create(
        author=editor,
        title="Chiusura via Roma",
        body="Via Roma chiusa *domani* dalle 8 alle 18.",
        category=Broadcast.Category.TRAFFIC,
        template=template,
        template_parameters=["via Roma chiusa domani dalle 8 alle 18"],
    )


@pytest.fixture
def run_on_commit():
    """Run what services schedule on commit (tasks run in-process in the tests)."""
    return lambda: TestCase.captureOnCommitCallbacks(execute=True)


def as_just_sent(payload: dict) -> dict:
    """A stored payload as Meta would post it now: every message and status time moved by the
    same whole number of days, so the newest is within the last day (the webhook ignores
    messages older than Meta's redelivery window). Order and time of day are kept."""
    values = [change["value"] for entry in payload["entry"] for change in entry["changes"]]
    items = [
        item for value in values for item in value.get("messages", []) + value.get("statuses", [])
    ]
    newest = max(int(item["timestamp"]) for item in items)
    days = int((datetime.now(UTC).timestamp() - newest) // 86400)
    for item in items:
        item["timestamp"] = str(int(item["timestamp"]) + days * 86400)
    return payload


@pytest.fixture(autouse=True)
def consent_log_emptied_before_flush(request: pytest.FixtureRequest):
    """A transactional test (a live server, a real worker) ends with Django flushing the database
    with TRUNCATE, which PostgreSQL refuses while the append-only consent log holds records. Empty
    it first, as only a superuser can: triggers off for this one statement's session."""
    if "transactional_db" not in request.fixturenames and "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so torn down after this
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            cursor.execute(f"DELETE FROM {ConsentRecord._meta.db_table}")  # noqa: S608
            cursor.execute("SET session_replication_role = DEFAULT")
