"""Celery tasks: thin, taking ids; the work is in services."""

from celery import shared_task

from broadcasts import services
from broadcasts.models import Broadcast
from comune.celery import QUEUE_DEFAULT, QUEUE_EMERGENCY


def queue_for(broadcast: Broadcast) -> str:
    """Emergencies go on their own queue, which workers serve first."""
    return QUEUE_EMERGENCY if broadcast.is_emergency else QUEUE_DEFAULT


@shared_task(expires=30)
def broadcasts_dispatch_due() -> None:
    services.broadcasts_dispatch_due()


@shared_task(acks_late=True)
def broadcast_fan_out(broadcast_id: int) -> None:
    # Idempotent: a slice that meets existing rows is redone with ON CONFLICT DO NOTHING, so a
    # redelivered fan-out adds nothing.
    services.broadcast_fan_out(broadcast_id=broadcast_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliveries_send_range(broadcast_id: int, first_id: int, last_id: int) -> None:
    """Rows are claimed atomically before sending, so a redelivered task sends nothing twice."""
    # With a broker, a run sends about a second's worth at the rate limit and re-enqueues
    # itself for the rest, so replies to keywords never wait behind a whole range.
    eager = deliveries_send_range.app.conf.task_always_eager
    outcome = services.deliveries_send_range(
        broadcast_id=broadcast_id,
        first_id=first_id,
        last_id=last_id,
        max_rows=None if eager else services.deliveries_task_rows(),
    )
    # Without a broker (tasks run in-process) a later retry is the scheduler loop's job.
    if outcome.retry_in is not None and not deliveries_send_range.app.conf.task_always_eager:
        broadcast = Broadcast.objects.only("priority").get(pk=broadcast_id)
        deliveries_send_range.apply_async(
            (broadcast_id, first_id, last_id),
            countdown=outcome.retry_in,
            queue=queue_for(broadcast),
        )


@shared_task(expires=60)
def deliveries_requeue_stuck() -> None:
    services.deliveries_requeue_stuck()
    services.broadcasts_resume_stalled()
    services.deliveries_apply_stranded_statuses()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliveries_apply_statuses() -> None:
    """Re-running it is harmless: statuses only climb."""
    services.deliveries_apply_buffered_statuses()
