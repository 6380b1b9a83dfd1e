"""The embedded mode's scheduler: without Redis there is no Celery beat, so this loop starts
due broadcasts and carries on interrupted ones. With Redis, run `celery beat` instead."""

import time

from django.core.management.base import BaseCommand

from broadcasts import services


class Command(BaseCommand):
    help = "Start due broadcasts and resume stalled ones, every few seconds (or --once)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=5.0)
        parser.add_argument("--once", action="store_true")

    def handle(self, *args, interval: float, once: bool, **options):
        while True:
            started = services.broadcasts_dispatch_due()
            services.deliveries_requeue_stuck()
            resumed = services.broadcasts_resume_stalled()
            if started or resumed:
                self.stdout.write(f"started {started}, resumed {resumed}")
            if once:
                return
            time.sleep(interval)
