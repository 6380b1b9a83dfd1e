"""Retention and erasure: what a dry run lists is exactly what the real run erases, the consent
log is never touched, and an erased citizen's number is gone everywhere."""

import io
import logging
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone
from import_export.results import RowResult
from tablib import Dataset

import gateway
from broadcasts.models import Broadcast, Delivery
from broadcasts.selectors import broadcast_delivery_counts
from privacy.erasure import subscriber_erase
from privacy.retention import retention_apply, retention_plan
from subscribers.consent_log import consent_log_verify
from subscribers.imports import SubscriberImportResource
from subscribers.models import ConsentRecord, InboundMessage, Subscriber
from subscribers.services.inbound import inbound_message_receive
from subscribers.services.pseudonyms import subscriber_pseudonym
from tests.comune.test_settings import manage

pytestmark = pytest.mark.django_db

STAYS, LEFT_LONG_AGO, LEFT_RECENTLY = "+393331111111", "+393332222222", "+393333333333"
ERASE_URL = reverse("admin:subscribers_subscriber_erase")


def days_ago(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)


def receive(text: str, *, phone: str, at: datetime) -> InboundMessage:
    message = gateway.InboundMessage(
        message_id=f"wamid.{phone}.{at.timestamp()}",
        timestamp=at,
        kind=gateway.InboundKind.TEXT,
        wa_type="text",
        phone=phone,
        user_id=None,
        text=text,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        inbound = inbound_message_receive(message=message)
    # The webhook stamps received_at; age the row as if it had arrived then.
    InboundMessage.objects.filter(pk=inbound.pk).update(received_at=at)
    return inbound


def consent_log() -> list[tuple]:
    return list(ConsentRecord.objects.order_by("pk").values_list())


@pytest.fixture
def staff_user(db) -> User:
    return User.objects.create_user(username="staff", is_staff=True)


def broadcast(
    *, author: User, finished: datetime | None, status=Broadcast.Status.SENT
) -> Broadcast:
    return Broadcast.objects.create(
        title="Avviso",
        body="Testo",
        category=Broadcast.Category.PUBLIC_UTILITY,
        created_by=author,
        status=status,
        finished_at=finished,
    )


def deliver(item: Broadcast, *phones: str, status=Delivery.Status.DELIVERED) -> None:
    for phone in phones:
        Delivery.objects.create(
            broadcast=item,
            subscriber=Subscriber.objects.get(phone=phone),
            status=status,
            queued_at=item.finished_at or timezone.now(),
        )


@pytest.fixture
def history(privacy_notice, staff_user) -> dict:
    """Three citizens over half a year: one stays, one left 40 days ago, one left last week."""
    receive("Iscrivimi", phone=STAYS, at=days_ago(200))
    receive("Iscrivimi", phone=LEFT_LONG_AGO, at=days_ago(200))
    receive("Iscrivimi", phone=LEFT_RECENTLY, at=days_ago(50))
    receive("Cancellami", phone=LEFT_LONG_AGO, at=days_ago(40))
    receive("Cancellami", phone=LEFT_RECENTLY, at=days_ago(6))
    receive("Grazie!", phone=STAYS, at=days_ago(2))
    old = broadcast(author=staff_user, finished=days_ago(190))
    deliver(old, STAYS, LEFT_LONG_AGO)
    deliver(old, LEFT_RECENTLY, status=Delivery.Status.FAILED)
    recent = broadcast(author=staff_user, finished=days_ago(20))
    deliver(recent, STAYS)
    sending = broadcast(author=staff_user, finished=None, status=Broadcast.Status.SENDING)
    deliver(sending, STAYS, status=Delivery.Status.QUEUED)
    return {"old": old, "recent": recent, "sending": sending}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("apply_retention", *args, stdout=out)
    return out.getvalue()


def test_the_real_run_erases_exactly_what_the_dry_run_listed(history):
    expired_inbound = set(
        InboundMessage.objects.filter(received_at__lt=days_ago(30)).values_list("pk", flat=True)
    )
    old_rows = set(history["old"].deliveries.values_list("pk", flat=True))
    left_long_ago = Subscriber.objects.get(phone=LEFT_LONG_AGO)
    log_before = consent_log()

    dry = run("--dry-run")

    assert f"{len(expired_inbound)} (ids {min(expired_inbound)}-{max(expired_inbound)})" in dry
    assert f"broadcast {history['old'].pk}: 3 (ids {min(old_rows)}-{max(old_rows)})" in dry
    assert f"(subscriber ids {left_long_ago.pk})" in dry
    assert "Dry run: nothing erased." in dry
    assert InboundMessage.objects.filter(pk__in=expired_inbound).count() == 4  # untouched

    real = run()

    assert "Erased: 4 inbound messages, 3 delivery rows; pseudonymised 1 subscribers." in real
    assert not InboundMessage.objects.filter(pk__in=expired_inbound).exists()
    assert InboundMessage.objects.count() == 2  # the last week's Cancellami and the thank-you
    assert not Delivery.objects.filter(pk__in=old_rows).exists()
    assert Delivery.objects.count() == 2  # the recent broadcast's and the one sending
    history["old"].refresh_from_db()
    assert history["old"].archived_counts == {"delivered": 2, "failed": 1}
    counts = broadcast_delivery_counts(broadcast_id=history["old"].pk)  # staff still see them
    assert (counts.total, counts.delivered, counts.failed) == (3, 2, 1)
    assert list(Subscriber.objects.filter(phone__isnull=True).values_list("pk", flat=True)) == [
        left_long_ago.pk
    ]
    assert consent_log() == log_before
    assert "Nothing is past its retention period." in run("--dry-run")


def test_a_pseudonymised_citizen_keeps_their_consent_trail_but_not_their_number(history):
    subscriber = Subscriber.objects.get(phone=LEFT_LONG_AGO)
    consents = list(subscriber.consents.values_list("pk", "action"))

    retention_apply(plan=retention_plan(now=timezone.now()))

    subscriber.refresh_from_db()
    assert subscriber.phone is None and subscriber.wa_user_id is None
    assert subscriber.pseudonym == subscriber_pseudonym(address=LEFT_LONG_AGO)
    assert list(subscriber.consents.values_list("pk", "action")) == consents
    assert consent_log_verify(anchor=None).problems == []
    assert [a for _, a in consents] == [
        ConsentRecord.Action.GRANTED,
        ConsentRecord.Action.WITHDRAWN,
    ]
    assert not InboundMessage.objects.filter(phone=LEFT_LONG_AGO).exists()
    assert Subscriber.objects.get(phone=LEFT_RECENTLY).status == Subscriber.Status.UNSUBSCRIBED


def test_a_citizen_who_came_back_after_the_plan_is_left_alone(history):
    plan = retention_plan(now=timezone.now())
    receive("Iscrivimi", phone=LEFT_LONG_AGO, at=timezone.now())

    result = retention_apply(plan=plan)

    assert result.subscriber_ids == ()
    assert Subscriber.objects.get(phone=LEFT_LONG_AGO).status == Subscriber.Status.ACTIVE


def test_erasure_withdraws_consent_and_forgets_the_number_at_once(history, staff_user):
    subscriber = Subscriber.objects.get(phone=STAYS)
    log_before = consent_log()

    erasure = subscriber_erase(phone=STAYS, actor=staff_user, reference="prot. 42/2026")

    assert erasure.consent_withdrawn
    assert (erasure.inbound_deleted, erasure.deliveries_deleted) == (2, 3)
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.phone is None
    assert subscriber.pseudonym == subscriber_pseudonym(address=STAYS)
    assert not InboundMessage.objects.filter(subscriber=subscriber).exists()
    assert not Delivery.objects.filter(subscriber=subscriber).exists()
    log_after = consent_log()
    assert log_after[: len(log_before)] == log_before  # appended to, never changed
    withdrawal = ConsentRecord.objects.latest("pk")
    assert (withdrawal.subscriber_id, withdrawal.action, withdrawal.channel) == (
        subscriber.pk,
        ConsentRecord.Action.WITHDRAWN,
        ConsentRecord.Channel.ADMIN,
    )
    assert withdrawal.evidence == {
        "erased_by": {"id": staff_user.pk, "username": "staff"},
        "reference": "prot. 42/2026",
    }


@pytest.fixture
def client(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def eraser(client) -> User:
    user = User.objects.create_user(username="dpo", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["erase_subscriber", "view_subscriber"])
    )
    client.force_login(user)
    return user


def test_the_erase_page_takes_the_number_in_the_body_only(client, eraser, history, caplog):
    caplog.set_level(logging.INFO)
    assert (
        b"Erase a number" in client.get(reverse("admin:subscribers_subscriber_changelist")).content
    )

    response = client.post(
        ERASE_URL, {"phone": "333 111 1111", "reference": "", "confirm": "on"}, follow=True
    )

    assert response.status_code == 200
    ((url, _status),) = response.redirect_chain
    assert "1111111" not in url
    page = response.content.decode()
    assert "Number erased: consent withdrawn, 2 messages and 3 deliveries deleted" in page
    assert "1111111" not in page
    assert "1111111" not in caplog.text
    assert not Subscriber.objects.filter(phone=STAYS).exists()


def test_the_erase_page_rejects_bad_input_and_strangers(client, eraser, history):
    response = client.post(ERASE_URL, {"phone": "12", "confirm": "on"})
    assert response.status_code == 200
    assert "This is not a valid phone number." in response.content.decode()
    response = client.post(ERASE_URL, {"phone": STAYS})
    assert response.status_code == 200
    assert Subscriber.objects.filter(phone=STAYS).exists()

    stranger = User.objects.create_user(username="editor", is_staff=True)
    client.force_login(stranger)
    assert client.post(ERASE_URL, {"phone": STAYS, "confirm": "on"}).status_code == 403
    assert Subscriber.objects.filter(phone=STAYS).exists()


def test_erasing_an_unknown_number_deletes_its_messages(client, eraser, privacy_notice):
    receive("Ciao", phone=STAYS, at=days_ago(1))

    response = client.post(ERASE_URL, {"phone": STAYS, "confirm": "on"}, follow=True)

    assert "No subscriber had this number; 1 messages from it deleted." in response.content.decode()
    assert not InboundMessage.objects.exists()
    assert not Subscriber.objects.exists()


def test_an_erased_number_cannot_be_imported_back(history, staff_user):
    subscriber_erase(phone=STAYS, actor=staff_user)
    dataset = Dataset(headers=["phone", "consent_date", "consent_evidence"])
    dataset.append([STAYS, "2024-03-15", "modulo n. 1"])

    result = SubscriberImportResource().import_data(dataset, dry_run=True, user=staff_user)

    (row,) = result.invalid_rows
    assert "only they can subscribe again" in str(row.field_specific_errors["phone"])
    assert result.totals[RowResult.IMPORT_TYPE_INVALID] == 1


@pytest.mark.parametrize("days", ["6", "0"])
def test_inbound_messages_are_kept_at_least_a_week(days):
    result = manage("check", DEBUG="true", RETENTION_INBOUND_DAYS=days)

    assert result.returncode != 0
    assert "RETENTION_INBOUND_DAYS must be at least 7" in result.stderr
