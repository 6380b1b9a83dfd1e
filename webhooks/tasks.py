"""The status drain's tasks. The drain keeps its historical name so that tasks already queued by
an installed comune still run after an upgrade."""

from celery import shared_task

from comune.celery import DATABASE_OUTAGE_RETRY
from webhooks import services


@shared_task(
    name="broadcasts.tasks.deliveries_apply_statuses",
    acks_late=True,
    reject_on_worker_lost=True,
    **DATABASE_OUTAGE_RETRY,
)
def statuses_apply_buffered() -> None:
    """Re-running it is harmless: statuses only climb, and each body is deleted in the
    transaction that applied it."""
    services.statuses_apply_buffered()


@shared_task(expires=60)
def statuses_apply_stranded() -> None:
    services.statuses_apply_stranded()
