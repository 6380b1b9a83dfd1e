"""The embedded mode's scheduler: without Redis there is no Celery beat, so this loop starts
due broadcasts, carries on interrupted ones and applies retention once a day. With Redis, run
`celery beat` instead."""

import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from broadcasts import services
from subscribers import retention


class Command(BaseCommand):
    help = "Start due broadcasts, resume stalled ones (every few seconds, or --once), and apply "
    "retention daily."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=5.0)
        parser.add_argument("--once", action="store_true")

    def handle(self, *args, interval: float, once: bool, **options):
        retention_day = None
        while True:
            today = timezone.localdate()
            if today != retention_day:
                retention.retention_apply(plan=retention.retention_plan(now=timezone.now()))
                retention_day = today
            started = services.broadcasts_dispatch_due()
            services.deliveries_requeue_stuck()
            resumed = services.broadcasts_resume_stalled()
            if started or resumed:
                self.stdout.write(f"started {started}, resumed {resumed}")
            if once:
                return
            time.sleep(interval)
