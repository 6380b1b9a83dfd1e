"""Reads of the subscribers app: finding a citizen, the one-way notice's interval, the log."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from subscribers import selectors
from subscribers.models import ConsentRecord, InboundMessage, Subscriber

pytestmark = pytest.mark.django_db


def test_a_citizen_is_found_by_number_first_then_by_user_id():
    by_number = Subscriber.objects.create(phone="+393331234567")
    by_user_id = Subscriber.objects.create(wa_user_id="IT.123")

    assert selectors.subscriber_find(phone="+393331234567", wa_user_id="IT.123") == by_number
    assert selectors.subscriber_find(phone="+393339999999", wa_user_id="IT.123") == by_user_id
    assert selectors.subscriber_find(phone=None, wa_user_id=None) is None


def test_the_one_way_notice_counts_only_since_the_given_time():
    InboundMessage.objects.create(
        wamid="wamid.1",
        phone="+393331234567",
        wa_type="text",
        intent="other",
        reply=InboundMessage.Reply.ONE_WAY_NOTICE,
        occurred_at=timezone.now(),
    )
    since = timezone.now() - timedelta(hours=1)

    assert selectors.one_way_notice_sent_since(phone="+393331234567", wa_user_id=None, since=since)
    assert not selectors.one_way_notice_sent_since(
        phone="+393330000000", wa_user_id=None, since=since
    )
    assert not selectors.one_way_notice_sent_since(
        phone="+393331234567", wa_user_id=None, since=timezone.now() + timedelta(minutes=1)
    )


def test_the_consent_log_is_narrowed_by_local_day_action_and_channel(subscribe, unsubscribe):
    subscribe("+393331111111", at=datetime(2026, 11, 1, 9, tzinfo=UTC))
    subscribe("+393332222222", at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    unsubscribe("+393331111111")

    november_2 = selectors.consent_record_list(
        occurred_from=date(2026, 11, 2), occurred_to=date(2026, 11, 2)
    )
    withdrawals = selectors.consent_record_list(action=ConsentRecord.Action.WITHDRAWN)

    assert [r.subscriber.phone for r in november_2] == ["+393332222222"]
    assert [r.subscriber.phone for r in withdrawals] == ["+393331111111"]
    assert list(selectors.consent_record_list()) == list(ConsentRecord.objects.order_by("sequence"))


def test_daily_counts_are_by_the_citizens_own_local_day(subscribe):
    subscribe("+393331111111", at=datetime(2026, 11, 1, 23, 30, tzinfo=UTC))  # 2 Nov in Rome
    subscribe("+393332222222", at=datetime(2026, 11, 2, 9, tzinfo=UTC))

    counts = selectors.consent_daily_counts(
        action=ConsentRecord.Action.GRANTED, since=datetime(2026, 10, 1, tzinfo=UTC)
    )

    assert counts == {date(2026, 11, 2): 2}
