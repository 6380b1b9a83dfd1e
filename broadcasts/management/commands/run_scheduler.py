"""The embedded mode's scheduler: without Redis there is no Celery beat, so this loop runs beat's
periodic jobs in-process, from the same table (comune.celery.PERIODIC_JOBS). With Redis, run
`celery beat` instead."""

import time
from datetime import datetime

from celery.schedules import crontab, schedule
from django.core.management.base import BaseCommand
from django.utils import timezone

from comune.celery import PERIODIC_JOBS, PeriodicJob, app


def _is_due(job: PeriodicJob, last_run: datetime | None) -> bool:
    if last_run is None:
        return True  # every job runs once at start, as a freshly started beat would soon
    every = job.schedule if isinstance(job.schedule, crontab) else schedule(job.schedule)
    return every.is_due(last_run).is_due


class Command(BaseCommand):
    help = "Run the periodic jobs (start due broadcasts, resume stalled ones, apply retention…) "
    "every few seconds, or once with --once."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=5.0)
        parser.add_argument("--once", action="store_true")

    def handle(self, *args, interval: float, once: bool, **options):
        last_runs: dict[str, datetime] = {}
        while True:
            for job in PERIODIC_JOBS:
                if not _is_due(job, last_runs.get(job.name)):
                    continue
                last_runs[job.name] = timezone.now()
                result = app.tasks[job.task].apply()
                if result.failed():
                    self.stderr.write(f"{job.name} failed: {result.result!r}")
            if once:
                return
            time.sleep(interval)
