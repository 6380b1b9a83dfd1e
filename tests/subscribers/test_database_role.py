"""Issue 13, finding 18: the product connects as a role that may only append to the consent
log, so not even a compromised web process can rewrite the proof (or disable its triggers)."""

import io
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from psycopg import errors

from subscribers.models import ConsentRecord, Subscriber
from subscribers.services.consent import subscriber_subscribe

CONSENT_LOG = ConsentRecord._meta.db_table
UPDATE_LOG = f"UPDATE {CONSENT_LOG} SET action = 'withdrawn'"  # noqa: S608 - a constant
DELETE_LOG = f"DELETE FROM {CONSENT_LOG}"  # noqa: S608 - a constant


@pytest.fixture
def runtime_role(postgres, privacy_notice):
    """A fresh role made by the command; the test's transaction takes it away again."""
    role = f"infocomune_app_{uuid.uuid4().hex[:8]}"
    call_command("create_runtime_role", "--role", role, stdout=io.StringIO())
    return role


def as_role(role: str, sql: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{role}"')
        cursor.execute(sql)


def refused(role: str, sql: str) -> bool:
    try:
        as_role(role, sql)
    except DatabaseError as error:
        return isinstance(error.__cause__, errors.InsufficientPrivilege)
    return False


def test_the_runtime_role_appends_to_the_log_and_cannot_change_it(runtime_role):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{runtime_role}"')
        # The product's own write: a citizen subscribes (subscriber row, a consent record).
        subscriber_subscribe(
            phone="+393331234567",
            occurred_at=datetime.now(UTC),
            channel=ConsentRecord.Channel.WHATSAPP,
            evidence={"message_id": "wamid.role", "text": "Iscrivimi"},
        )
    assert ConsentRecord.objects.count() == 1
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE

    assert refused(runtime_role, UPDATE_LOG)
    assert refused(runtime_role, DELETE_LOG)
    assert refused(runtime_role, f"TRUNCATE {CONSENT_LOG}")
    with pytest.raises(DatabaseError, match="must be owner"):
        as_role(runtime_role, f"ALTER TABLE {CONSENT_LOG} DISABLE TRIGGER ALL")
    assert ConsentRecord.objects.count() == 1


def test_the_runtime_role_reads_and_writes_the_other_tables(runtime_role, subscribe):
    subscribe("+393331234567")

    as_role(runtime_role, "UPDATE subscribers_subscriber SET last_inbound_at = now()")
    as_role(runtime_role, "DELETE FROM django_session")

    assert Subscriber.objects.get().last_inbound_at is not None


def test_the_command_needs_postgresql(db):
    if connection.vendor == "postgresql":
        pytest.skip("shows the SQLite answer")

    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("create_runtime_role", "--role", "app")
