"""Reads of the subscribers app."""

from datetime import date, datetime

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from subscribers.models import ConsentRecord, InboundMessage, PrivacyNotice, Subscriber


def privacy_notice_current() -> PrivacyNotice | None:
    return PrivacyNotice.objects.filter(is_current=True).first()


def subscriber_find(*, phone: str | None, wa_user_id: str | None) -> Subscriber | None:
    """The subscriber a citizen's address names: by number first, else by WhatsApp user id."""
    if phone:
        found = Subscriber.objects.filter(phone=phone).first()
        if found:
            return found
    if wa_user_id:
        return Subscriber.objects.filter(wa_user_id=wa_user_id).first()
    return None


def subscriber_active_list() -> QuerySet[Subscriber]:
    return Subscriber.objects.filter(status=Subscriber.Status.ACTIVE)


def one_way_notice_sent_since(
    *, phone: str | None, wa_user_id: str | None, since: datetime
) -> bool:
    """Whether this citizen already got the one-way notice since the given time."""
    replies = InboundMessage.objects.filter(
        reply=InboundMessage.Reply.ONE_WAY_NOTICE, received_at__gte=since
    )
    if phone:
        return replies.filter(phone=phone).exists()
    return replies.filter(wa_user_id=wa_user_id).exists()


def number_changed_since(*, phone: str | None, wa_user_id: str | None, since: datetime) -> bool:
    """Whether the citizen at this address told WhatsApp they moved to a new number at or after
    `since` (the notice comes from the number they left)."""
    if not (phone or wa_user_id):
        return False
    changes = InboundMessage.objects.filter(
        intent=InboundMessage.Intent.NUMBER_CHANGED, occurred_at__gte=since
    )
    if phone:
        return changes.filter(phone=phone).exists()
    return changes.filter(wa_user_id=wa_user_id).exists()


def consent_daily_counts(*, action: str, since: datetime) -> dict[date, int]:
    """How many consent events of one action (granted: joins, withdrawn: leaves) happened on
    each local day since `since`, by the citizen's own time: one aggregate query."""
    rows = (
        ConsentRecord.objects.filter(action=action, occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(count=Count("id"))
        .order_by("day")
    )
    return {row["day"]: row["count"] for row in rows}


def consent_record_list(
    *,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
    action: str = "",
    channel: str = "",
) -> QuerySet[ConsentRecord]:
    """The consent log in chain order, narrowed to the local days of the citizen's own time
    (both ends included), an action and a channel when given."""
    records = ConsentRecord.objects.order_by("sequence")
    if occurred_from:
        records = records.filter(occurred_at__date__gte=occurred_from)
    if occurred_to:
        records = records.filter(occurred_at__date__lte=occurred_to)
    if action:
        records = records.filter(action=action)
    if channel:
        records = records.filter(channel=channel)
    return records
