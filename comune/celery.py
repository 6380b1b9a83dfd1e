"""The Celery app, and everything about tasks decided in one place: the queues, the routes, the
one table of periodic jobs (Celery beat and `manage.py run_scheduler` both read it), and
`enqueue`, the one way services start a task."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comune.settings")

QUEUE_DEFAULT = "default"
# Replies to a citizen's keyword must not wait behind a broadcast to every subscriber.
QUEUE_REPLIES = "replies"
# Emergencies go ahead of everything; a worker started with -Q emergency,… serves it.
QUEUE_EMERGENCY = "emergency"

app = Celery("comune")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_routes = {
    # An exact name wins over the pattern: the daily retention run must not delay replies.
    "subscribers.tasks.retention_apply": {"queue": QUEUE_DEFAULT},
    "subscribers.tasks.*": {"queue": QUEUE_REPLIES},
}


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    schedule: float | crontab  # seconds between runs, or a crontab
    expires: float  # a run not started by then is dropped: the next one does its work


PERIODIC_JOBS = (
    PeriodicJob("dispatch-due-broadcasts", "broadcasts.tasks.broadcasts_dispatch_due", 5.0, 5.0),
    PeriodicJob(
        "requeue-stuck-deliveries", "broadcasts.tasks.deliveries_requeue_stuck", 60.0, 60.0
    ),
    PeriodicJob("apply-stranded-statuses", "webhooks.tasks.statuses_apply_stranded", 60.0, 60.0),
    PeriodicJob(
        "apply-retention",
        "subscribers.tasks.retention_apply",
        crontab(hour=3, minute=30),
        3600.0,
    ),
    PeriodicJob(
        "anchor-consent-log", "privacy.tasks.consent_log_anchor", crontab(hour=0, minute=5), 3600.0
    ),
)
app.conf.beat_schedule = {
    job.name: {"task": job.task, "schedule": job.schedule, "options": {"expires": job.expires}}
    for job in PERIODIC_JOBS
}


def broadcast_queue(*, emergency: bool) -> str:
    """The queue of a broadcast's own tasks: emergencies have theirs, which workers serve first."""
    return QUEUE_EMERGENCY if emergency else QUEUE_DEFAULT


def enqueue(
    task: str, *args: object, queue: str | None = None, countdown: float | None = None
) -> None:
    """Start the task registered as `task` (run in-process without a broker).

    Services start tasks by name through here rather than importing a tasks module, which
    imports the services: the import graph stays one-way. Every app's tasks module is imported
    when Django starts (its AppConfig.ready), so the name is always registered.
    """
    options: dict[str, Any] = {"queue": queue, "countdown": countdown}
    app.tasks[task].apply_async(args, **{k: v for k, v in options.items() if v is not None})
