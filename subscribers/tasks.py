from celery import shared_task
from django.utils import timezone

from subscribers import retention, services

REPLY_MAX_RETRIES = 8


@shared_task(bind=True, max_retries=REPLY_MAX_RETRIES)
def inbound_reply_send(self, inbound_message_id: int) -> None:
    """Send a keyword's reply; 'try later' answers retry with exponential backoff and jitter."""
    try:
        services.inbound_reply_send(
            inbound_message_id=inbound_message_id,
            final_attempt=self.request.retries >= REPLY_MAX_RETRIES,
        )
    except services.ReplyNotDelivered as exc:
        countdown = min(2**self.request.retries * 5, 600)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(expires=3600)
def retention_apply() -> None:
    """Daily: erase what the retention settings say is past its time."""
    retention.retention_apply(plan=retention.retention_plan(now=timezone.now()))
