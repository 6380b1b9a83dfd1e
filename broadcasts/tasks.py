"""Celery tasks: thin, taking ids; the work is in services. Services start them by name through
`comune.celery.enqueue`, never by importing this module."""

from celery import shared_task

from broadcasts.models import Broadcast
from broadcasts.services import fanout, notifications, recovery, sending, series
from comune.celery import DATABASE_OUTAGE_RETRY, broadcast_queue


@shared_task(expires=30)
def broadcasts_dispatch_due() -> None:
    fanout.broadcasts_dispatch_due()


@shared_task(expires=60)
def series_occurrences_make() -> None:
    # Idempotent: the unique (series, occurrence time) makes a second run add nothing.
    series.series_occurrences_make()


@shared_task(acks_late=True, **DATABASE_OUTAGE_RETRY)
def broadcast_fan_out(broadcast_id: int) -> None:
    # Idempotent: a slice that meets existing rows is redone with ON CONFLICT DO NOTHING, so a
    # redelivered fan-out adds nothing.
    fanout.broadcast_fan_out(broadcast_id=broadcast_id)


@shared_task
def deliveries_enqueue_ranges(broadcast_id: int) -> None:
    """A resumed or retried broadcast carries on: harmless twice, since rows are claimed."""
    fanout.deliveries_enqueue_ranges(broadcast_id=broadcast_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, **DATABASE_OUTAGE_RETRY)
def deliveries_send_range(broadcast_id: int, first_id: int, last_id: int) -> None:
    """Rows are claimed atomically before sending, so a redelivered task sends nothing twice."""
    # With a broker, a run sends about a second's worth at the rate limit and re-enqueues
    # itself for the rest, so replies to keywords never wait behind a whole range. Without one
    # (tasks run in-process) a later retry is the scheduler loop's job.
    eager = deliveries_send_range.app.conf.task_always_eager
    outcome = sending.deliveries_send_range(
        broadcast_id=broadcast_id,
        first_id=first_id,
        last_id=last_id,
        max_rows=None if eager else sending.deliveries_task_rows(),
    )
    if outcome.retry_in is not None and not eager:
        broadcast = Broadcast.objects.only("priority").get(pk=broadcast_id)
        deliveries_send_range.apply_async(
            (broadcast_id, first_id, last_id),
            countdown=outcome.retry_in,
            queue=broadcast_queue(emergency=broadcast.is_emergency),
        )


@shared_task(expires=60)
def deliveries_requeue_stuck() -> None:
    recovery.deliveries_requeue_stuck()
    recovery.broadcasts_resume_stalled()


@shared_task
def approvers_notify_emergency(broadcast_id: int) -> None:
    notifications.approvers_notify_emergency(broadcast_id=broadcast_id)


@shared_task
def broadcast_step_notify(event_id: int, step: str) -> None:
    """Tell whom the lifecycle table names that a step was taken (by e-mail, to those who
    want it)."""
    notifications.broadcast_step_notify(event_id=event_id, step=step)
