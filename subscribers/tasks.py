from celery import shared_task

from subscribers.services import inbound

REPLY_MAX_RETRIES = 8


@shared_task(bind=True, max_retries=REPLY_MAX_RETRIES)
def inbound_reply_send(self, inbound_message_id: int) -> None:
    """Send a keyword's reply; 'try later' answers retry with exponential backoff and jitter."""
    try:
        inbound.inbound_reply_send(
            inbound_message_id=inbound_message_id,
            final_attempt=self.request.retries >= REPLY_MAX_RETRIES,
        )
    except inbound.ReplyNotDelivered as exc:
        countdown = min(2**self.request.retries * 5, 600)
        raise self.retry(exc=exc, countdown=countdown) from exc
