"""Delivery as citizens observe it: fan-out, sends, statuses, the reaper, what Meta's answers
change (tasks run in-process here)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

import gateway
from broadcasts import selectors, sql
from broadcasts.models import Broadcast, Delivery
from broadcasts.services import authoring, recovery
from broadcasts.services import sending as sending_service
from broadcasts.services.sending import deliveries_send_range
from broadcasts.services.statuses import deliveries_apply_statuses
from gateway.backends.locmem import LocmemBackend
from gateway.ratelimit import RateLimiterUnavailable
from subscribers.models import Subscriber
from tests.broadcasts.steps import fan_out_without_sending, sending

pytestmark = pytest.mark.django_db

A, B, C = "+393331111111", "+393332222222", "+393333333333"


def test_a_citizen_who_leaves_mid_broadcast_gets_nothing_more(
    draft, approver, subscribe, unsubscribe, whatsapp_outbox
):
    subscribe(A, B)
    sending(draft, approver)
    unsubscribe(B)

    deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)

    assert [m.to for m in whatsapp_outbox] == [A]
    failed = Delivery.objects.get(subscriber__phone=B)
    assert failed.status == Delivery.Status.FAILED
    assert failed.error_title == "No longer subscribed"


def test_fan_out_twice_creates_each_row_once(draft, subscribe):
    subscribe(A, B)
    assert fan_out_without_sending(draft) == 2
    assert fan_out_without_sending(draft) == 0
    subscribe(C)  # since the first run: the slice meets existing rows and adds only the new one
    assert fan_out_without_sending(draft) == 1
    assert sorted(Delivery.objects.values_list("subscriber__phone", flat=True)) == [A, B, C]


def test_fan_out_is_set_based(draft, django_assert_max_num_queries, subscribe, settings):
    subscribe(*[f"+39333000{i:04d}" for i in range(50)])
    settings.BROADCAST_FAN_OUT_SLICE = 1000
    with django_assert_max_num_queries(5):  # the bounds, then one INSERT in its savepoint
        assert fan_out_without_sending(draft) == 50


def status_update(delivery, status, *, seconds=0, callback=True, errors=()):
    return gateway.StatusUpdate(
        message_id=delivery.wamid or "wamid.unknown",
        status=status,
        timestamp=datetime(2026, 11, 25, 10, 0, seconds, tzinfo=UTC),
        callback_data=f"d:{delivery.pk}" if callback else None,
        errors=tuple(errors),
    )


def test_statuses_climb_and_never_go_back(draft, approver, subscribe):
    subscribe(A)
    sending(draft, approver)
    deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)
    delivery = Delivery.objects.get()

    deliveries_apply_statuses(
        statuses=[
            status_update(delivery, "read", seconds=9),
            status_update(delivery, "sent", seconds=1),
            status_update(delivery, "delivered", seconds=5),
        ]
    )

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.READ
    assert delivery.read_at.second == 9
    counts = selectors.broadcast_delivery_counts(broadcast_id=draft.pk)
    assert counts.read == 1


def test_a_batch_of_statuses_for_many_messages_keeps_when_each_step_happened(
    draft, approver, subscribe
):
    subscribe(A, B, C)
    sending(draft, approver)
    deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)
    a, b, c = Delivery.objects.order_by("subscriber__phone")
    Delivery.objects.filter(pk=c.pk).update(status="sending", wamid=None, sent_at=None)  # died

    changed = deliveries_apply_statuses(
        statuses=[
            status_update(a, "delivered", seconds=5),
            status_update(b, "read", seconds=7),  # Meta never said "delivered"
            status_update(b, "sent", seconds=2),
            gateway.StatusUpdate(
                message_id="wamid.only-meta-knew",
                status="sent",
                timestamp=datetime(2026, 11, 25, 10, 0, 3, tzinfo=UTC),
                callback_data=f"d:{c.pk}",
            ),
            status_update(a, "sent", seconds=1),  # again: changes nothing
        ]
    )

    assert changed == 3
    recorded = {a.pk: a.sent_at, b.pk: b.sent_at}  # when our worker recorded the sends: kept
    a, b, c = Delivery.objects.order_by("subscriber__phone")
    assert (a.status, a.sent_at, a.delivered_at.second) == ("delivered", recorded[a.pk], 5)
    assert (b.status, b.sent_at, b.delivered_at.second, b.read_at.second) == (
        "read",
        recorded[b.pk],
        7,
        7,
    )
    assert (c.status, c.wamid, c.sent_at.second) == ("sent", "wamid.only-meta-knew", 3)
    assert deliveries_apply_statuses(statuses=[status_update(a, "sent")]) == 0


def test_a_thousand_statuses_cost_as_many_statements_as_one(
    postgres, draft, approver, django_assert_max_num_queries
):
    now = datetime.now(UTC)
    Subscriber.objects.bulk_create(
        Subscriber(phone=f"+39320{i:07d}", status="active", subscribed_at=now) for i in range(1000)
    )
    sending(draft, approver)
    deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)
    statuses = [status_update(d, "delivered") for d in Delivery.objects.all()]

    with django_assert_max_num_queries(5):
        assert deliveries_apply_statuses(statuses=statuses) == 1000

    assert selectors.broadcast_delivery_counts(broadcast_id=draft.pk).delivered == 1000


def test_a_send_our_crashed_worker_never_recorded_is_matched_by_callback_data(
    draft, approver, subscribe
):
    subscribe(A)
    sending(draft, approver)
    Delivery.objects.update(status=Delivery.Status.SENDING)  # claimed, then the worker died
    delivery = Delivery.objects.get()

    deliveries_apply_statuses(
        statuses=[
            gateway.StatusUpdate(
                message_id="wamid.accepted-by-meta",
                status="delivered",
                timestamp=datetime.now(UTC),
                callback_data=f"d:{delivery.pk}",
            )
        ]
    )

    delivery.refresh_from_db()
    assert (delivery.status, delivery.wamid) == ("delivered", "wamid.accepted-by-meta")
    # …so the reaper leaves it alone: it will not be sent twice.
    assert recovery.deliveries_requeue_stuck(now=datetime.now(UTC) + timedelta(hours=1)) == 0


def test_the_reaper_requeues_rows_a_killed_worker_claimed_but_never_sent_and_they_are_sent(
    draft, approver, subscribe, whatsapp_outbox, run_on_commit
):
    subscribe(A)
    sending(draft, approver)
    Delivery.objects.update(status=Delivery.Status.SENDING, claimed_at=datetime.now(UTC))

    assert recovery.deliveries_requeue_stuck() == 0  # not stuck yet
    later = datetime.now(UTC) + settings.BROADCAST_STUCK_AFTER + timedelta(seconds=1)
    with run_on_commit():
        assert recovery.deliveries_requeue_stuck(now=later) == 1

    assert [m.to for m in whatsapp_outbox] == [A]
    assert Delivery.objects.get().status == Delivery.Status.SENT


def test_a_row_a_killed_worker_may_have_sent_is_never_sent_again_but_its_status_settles_it(
    draft, approver, subscribe, whatsapp_outbox, run_on_commit
):
    subscribe(A)
    subscribe(B)
    sending(draft, approver)
    now = datetime.now(UTC)
    Delivery.objects.update(status=Delivery.Status.SENDING, claimed_at=now, attempted_at=now)

    with run_on_commit():
        recovery.deliveries_requeue_stuck(now=now + settings.BROADCAST_STUCK_AFTER * 2)
        deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)

    assert whatsapp_outbox == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.UNKNOWN}
    # Meta had accepted A's: its status webhook, matched by our callback data, says so.
    delivery = Delivery.objects.get(subscriber__phone=A)
    update = gateway.StatusUpdate(
        message_id="wamid.late", status="delivered", timestamp=now, callback_data=f"d:{delivery.pk}"
    )
    deliveries_apply_statuses(statuses=[update])
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DELIVERED
    assert Delivery.objects.get(subscriber__phone=B).status == Delivery.Status.UNKNOWN


def test_the_messaging_limit_spreads_the_rest_over_the_next_window(
    draft, approver, subscribe, whatsapp_outbox, settings
):
    settings.WHATSAPP_MESSAGING_LIMIT = 2
    subscribe(A, B, C)
    sending(draft, approver)

    outcome = deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)

    assert (
        outcome.sent == 2 and outcome.retry_in == settings.BROADCAST_MESSAGING_LIMIT_RETRY_SECONDS
    )
    assert Delivery.objects.filter(status="queued").count() == 1
    assert deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9).sent == 0


def test_templates_are_synchronised_from_the_gateway(db, template):
    created, updated = authoring.templates_sync(
        templates=[
            {
                "name": "allerta",
                "language": "it",
                "category": "UTILITY",
                "status": "APPROVED",
                "body": "Allerta: {{1}}",
            },
        ]
    )
    assert (created, updated) == (1, 0)
    template.refresh_from_db()
    assert template.status == "DELETED"


def test_a_normal_broadcast_waits_while_an_emergency_is_sending(draft, approver, subscribe):
    subscribe(A)
    sending(draft, approver)
    emergency = authoring.broadcast_create(
        author=approver,
        title="Allerta",
        body="Allerta.",
        category="emergency",
        priority=Broadcast.Priority.EMERGENCY,
    )
    Broadcast.objects.filter(pk=emergency.pk).update(status=Broadcast.Status.SENDING)

    outcome = deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)

    assert outcome.retry_in and outcome.sent == 0
    assert Delivery.objects.get(broadcast=draft).status == Delivery.Status.QUEUED


def test_a_number_undeliverable_three_times_becomes_unreachable(draft, approver, subscribe):
    subscribe(A)
    undeliverable = gateway.StatusError(131026, "Message undeliverable")
    for attempt in range(3):
        broadcast = authoring.broadcast_create(
            author=draft.created_by,
            title=f"N{attempt}",
            body="Testo",
            category="event",
            template=draft.template,
            template_parameters=draft.template_parameters,
        )
        sending(broadcast, approver)
        deliveries_send_range(broadcast_id=broadcast.pk, first_id=0, last_id=10**9)
        delivery = Delivery.objects.get(broadcast=broadcast)
        deliveries_apply_statuses(
            statuses=[status_update(delivery, "failed", errors=[undeliverable])]
        )
        expected = "active" if attempt < 2 else "unreachable"
        assert Subscriber.objects.get().status == expected


class _LimiterDownAfter:
    """A shared rate limiter whose Redis goes away after `slots` sends."""

    def __init__(self, slots: int) -> None:
        self.slots = slots

    def acquire(self, *, bulk: bool = False) -> None:
        if self.slots == 0:
            raise RateLimiterUnavailable("ConnectionError")
        self.slots -= 1

    def slow_down(self, seconds: float) -> None:
        return None


def test_a_rate_limiter_lost_mid_range_loses_no_outcome_and_sends_nothing_twice(
    draft, approver, subscribe, whatsapp_outbox, monkeypatch, settings
):
    """Issue 14: the limiter raised in the send threads, the accepted sends were never
    recorded, and the reaper sent them again ten minutes later."""
    for phone in (A, B, C):
        subscribe(phone)
    sending(draft, approver)
    settings.BROADCAST_SEND_CONCURRENCY = 1  # sends in row id order: the first two get a slot
    # The fan-out's INSERT … SELECT numbers the rows in the order PostgreSQL reads subscribers,
    # which need not be the order they subscribed in.
    first, second, third = Delivery.objects.order_by("id").values_list(
        "subscriber__phone", flat=True
    )
    limiter = _LimiterDownAfter(2)
    monkeypatch.setattr(gateway.ratelimit, "rate_limiter", lambda: limiter)

    outcome = deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)

    assert [m.to for m in whatsapp_outbox] == [first, second]
    rows = {d.subscriber.phone: d for d in Delivery.objects.select_related("subscriber")}
    assert (rows[first].status, rows[second].status, rows[third].status) == (
        "sent",
        "sent",
        "queued",
    )
    assert rows[first].wamid and rows[second].wamid
    assert (rows[third].attempts, rows[third].attempted_at) == (0, None)
    assert outcome.retry_in == sending_service.SENDER_DOWN_RETRY_SECONDS

    limiter.slots = 10  # Redis is back
    deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)
    assert [m.to for m in whatsapp_outbox] == [first, second, third]


def test_a_send_whose_answer_was_lost_is_left_unknown_and_never_resent(
    draft, approver, subscribe, monkeypatch
):
    subscribe(A)
    sending(draft, approver)
    sent = []

    def answer_lost(self, message):
        sent.append(message.to)
        error = gateway.SendError(gateway.ErrorKind.UNKNOWN, None, "ReadTimeout: read timed out")
        return gateway.SendResult(message=message, error=error)

    monkeypatch.setattr(LocmemBackend, "_send", answer_lost)

    deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)
    deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)
    recovery.broadcasts_resume_stalled(now=datetime.now(UTC) + timedelta(hours=1))

    assert sent == [A]
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.UNKNOWN
    assert delivery.attempted_at is not None
    counts = selectors.broadcast_delivery_counts(broadcast_id=draft.pk)
    assert (counts.unknown, counts.queued) == (1, 0)
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENT


def test_a_row_the_reaper_took_back_is_not_sent_by_the_worker_that_held_it(
    draft, approver, subscribe, whatsapp_outbox
):
    subscribe(A)
    sending(draft, approver)
    claimed_at = datetime.now(UTC)
    delivery = Delivery.objects.get()
    Delivery.objects.update(status=Delivery.Status.SENDING, claimed_at=claimed_at)
    assert sql.deliveries_mark_attempted(ids=[delivery.pk], claimed_at=claimed_at) == {delivery.pk}

    Delivery.objects.update(status=Delivery.Status.QUEUED, attempted_at=None)  # reaped
    assert sql.deliveries_mark_attempted(ids=[delivery.pk], claimed_at=claimed_at) == set()
