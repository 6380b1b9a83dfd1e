"""Reads of the broadcasts app: counts staff see, the archive citizens see, quiet hours."""

from datetime import UTC, datetime, time

import pytest
from django.utils import timezone

from broadcasts import selectors
from broadcasts.models import Broadcast, Delivery
from subscribers.models import Subscriber

pytestmark = pytest.mark.django_db


def _delivery(broadcast: Broadcast, phone: str, status: str) -> Delivery:
    subscriber = Subscriber.objects.create(phone=phone)
    return Delivery.objects.create(
        broadcast=broadcast, subscriber=subscriber, status=status, queued_at=timezone.now()
    )


@pytest.fixture
def sent(draft) -> Broadcast:
    Broadcast.objects.filter(pk=draft.pk).update(status="sent", finished_at=timezone.now())
    for number, status in enumerate(["sent", "delivered", "read", "read", "failed", "queued"]):
        _delivery(draft, f"+39333000000{number}", status)
    draft.refresh_from_db()
    return draft


def test_delivery_counts_add_what_retention_archived(sent):
    Broadcast.objects.filter(pk=sent.pk).update(archived_counts={"read": 10, "failed": 2})

    counts = selectors.broadcast_delivery_counts(broadcast_id=sent.pk)

    assert (counts.total, counts.queued, counts.read, counts.failed) == (18, 1, 12, 3)
    assert counts.done == 17
    assert counts.percent_done == 94


def test_the_funnel_counts_each_step_and_everything_past_it(sent):
    annotated = selectors.broadcast_annotate_funnel(Broadcast.objects.filter(pk=sent.pk)).get()

    funnel = (annotated.funnel_sent, annotated.funnel_delivered, annotated.funnel_read)
    assert funnel == (4, 3, 2)
    assert annotated.funnel_failed == 1


def test_the_public_archive_lists_only_public_sent_broadcasts_newest_first(editor):
    def broadcast(title: str, status: str, is_public: bool, day: int) -> Broadcast:
        return Broadcast.objects.create(
            title=title,
            category="traffic",
            created_by=editor,
            status=status,
            is_public=is_public,
            finished_at=datetime(2026, 11, day, tzinfo=UTC),
        )

    broadcast("older", "sent", True, 1)
    broadcast("newer", "sent", True, 2)
    broadcast("internal", "sent", False, 3)
    broadcast("cancelled", "cancelled", True, 4)

    assert [b.title for b in selectors.broadcast_public_archive()] == ["newer", "older"]


@pytest.mark.parametrize(
    ("local", "quiet"),
    [(time(21, 59), False), (time(22, 0), True), (time(3, 0), True), (time(8, 0), False)],
)
def test_quiet_hours_may_cross_midnight(settings, local, quiet):
    settings.BROADCAST_QUIET_HOURS = (time(22, 0), time(8, 0))
    moment = timezone.make_aware(datetime.combine(datetime(2026, 12, 3), local))
    assert selectors.in_quiet_hours(moment) is quiet


def test_no_quiet_hours_when_start_equals_end(settings):
    settings.BROADCAST_QUIET_HOURS = (time(0, 0), time(0, 0))
    assert selectors.in_quiet_hours(timezone.now()) is False
