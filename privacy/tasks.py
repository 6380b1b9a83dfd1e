"""The daily retention run. It keeps its historical name, so beat schedules and queued tasks
of an installed comune still find it after an upgrade."""

from celery import shared_task
from django.utils import timezone

from privacy import retention


@shared_task(name="subscribers.tasks.retention_apply", expires=3600)
def retention_apply() -> None:
    """Daily: erase what the retention settings say is past its time."""
    retention.retention_apply(plan=retention.retention_plan(now=timezone.now()))
