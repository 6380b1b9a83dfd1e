"""Reads of the subscribers app."""

from datetime import datetime

from django.db.models import QuerySet

from subscribers.models import InboundMessage, PrivacyNotice, Subscriber


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
