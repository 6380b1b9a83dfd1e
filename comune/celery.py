"""The Celery app, and everything about tasks decided in one place: the queues, the routes, the
one table of periodic jobs (Celery beat and `manage.py run_scheduler` both read it), and
`enqueue`, the one way services start a task."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import django.db
from celery import Celery
from celery.schedules import crontab
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comune.settings")

QUEUE_DEFAULT = "default"
# Replies to a citizen's keyword must not wait behind a broadcast to every subscriber.
QUEUE_REPLIES = "replies"
# Emergencies go ahead of every other broadcast, whose ranges wait while one is sending.
QUEUE_EMERGENCY = "emergency"
# Meta's status webhooks, applied within seconds even while a broadcast fills `default`.
QUEUE_STATUSES = "statuses"
# What README's two workers serve. The priority worker takes only the short tasks a citizen or
# Meta waits for, so that no broadcast, an emergency included, ever holds its processes (the
# benchmark measured a reply p99 of 34 s when it also served emergencies). Emergencies need no
# worker of their own: other broadcasts' ranges step aside while one is sending. The main worker
# also takes the priority queues, so that nothing waits while the priority worker is down.
PRIORITY_WORKER_QUEUES = ",".join((QUEUE_REPLIES, QUEUE_STATUSES))
MAIN_WORKER_QUEUES = ",".join((QUEUE_EMERGENCY, PRIORITY_WORKER_QUEUES, QUEUE_DEFAULT))

app = Celery("comune")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_routes = {
    # An exact name wins over the pattern: the daily retention run must not delay replies.
    "subscribers.tasks.retention_apply": {"queue": QUEUE_DEFAULT},
    "subscribers.tasks.*": {"queue": QUEUE_REPLIES},
    "broadcasts.tasks.deliveries_apply_statuses": {"queue": QUEUE_STATUSES},
}


# Tasks that a database outage interrupts are run again by Celery, sooner than the sweep would:
# after about 1, 2, 4 … s, at most 30 s apart, for about ten minutes; the sweep covers the rest.
DATABASE_OUTAGE_RETRY: dict[str, Any] = {
    "autoretry_for": (django.db.OperationalError, django.db.InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 20,
}


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    # Seconds between runs, a crontab, or the name of the setting that holds the seconds.
    every: float | crontab | str
    expires: float | None = None  # a run not started by then is dropped (default: `every`)

    @property
    def schedule(self) -> float | crontab:
        """Read when beat starts (settings are not ready when this module is imported)."""
        if isinstance(self.every, str):
            return float(getattr(settings, self.every))
        return self.every

    @property
    def expires_after(self) -> float:
        if self.expires is not None:
            return self.expires
        schedule = self.schedule
        assert isinstance(schedule, float)  # noqa: S101 - a crontab job names its expiry
        return schedule


PERIODIC_JOBS = (
    PeriodicJob("dispatch-due-broadcasts", "broadcasts.tasks.broadcasts_dispatch_due", 5.0),
    # Recurring broadcasts' occurrences, made a day ahead: a minute late is on time.
    PeriodicJob("make-series-occurrences", "broadcasts.tasks.series_occurrences_make", 60.0),
    # The recovery jobs: what a lost worker, a broker restart or a database outage left.
    PeriodicJob(
        "requeue-stuck-deliveries",
        "broadcasts.tasks.deliveries_requeue_stuck",
        "RECOVERY_SWEEP_SECONDS",
    ),
    PeriodicJob(
        "apply-stranded-statuses",
        "webhooks.tasks.statuses_apply_stranded",
        "RECOVERY_SWEEP_SECONDS",
    ),
    PeriodicJob(
        "apply-retention", "subscribers.tasks.retention_apply", crontab(hour=3, minute=30), 3600.0
    ),
    PeriodicJob(
        "anchor-consent-log", "privacy.tasks.consent_log_anchor", crontab(hour=0, minute=5), 3600.0
    ),
)


@app.on_after_configure.connect
def _beat_schedule(sender: Celery, **_kwargs: Any) -> None:
    sender.conf.beat_schedule = {
        job.name: {
            "task": job.task,
            "schedule": job.schedule,
            "options": {"expires": job.expires_after},
        }
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
