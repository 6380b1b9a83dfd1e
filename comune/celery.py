"""The Celery app. Queue names live here, in one place."""

import os

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
app.conf.beat_schedule = {
    "dispatch-due-broadcasts": {
        "task": "broadcasts.tasks.broadcasts_dispatch_due",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "requeue-stuck-deliveries": {
        "task": "broadcasts.tasks.deliveries_requeue_stuck",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "apply-retention": {
        "task": "subscribers.tasks.retention_apply",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 3600.0},
    },
}
app.autodiscover_tasks()
