"""The embedded mode's scheduler does beat's work in one loop."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import TestCase

from broadcasts import lifecycle
from broadcasts.models import Broadcast
from comune.celery import PERIODIC_JOBS, app
from subscribers.models import InboundMessage

pytestmark = pytest.mark.django_db


def test_one_pass_starts_due_broadcasts_and_applies_retention(
    draft, approver, subscribe, whatsapp_outbox, monkeypatch
):
    subscribe("+393331111111")
    monkeypatch.setattr(lifecycle, "_dispatch_soon", lambda: None)  # as if no worker ran it
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    lifecycle.broadcast_approve(broadcast=draft, actor=approver)
    old = InboundMessage.objects.create(
        wamid="wamid.old",
        phone="+393339999999",
        wa_type="text",
        intent="other",
        occurred_at=datetime.now(UTC) - timedelta(days=90),
    )
    InboundMessage.objects.filter(pk=old.pk).update(received_at=old.occurred_at)

    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("run_scheduler", "--once")

    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.SENT
    assert [m.to for m in whatsapp_outbox] == ["+393331111111"]
    assert not InboundMessage.objects.filter(pk=old.pk).exists()


def test_run_scheduler_runs_the_jobs_beat_runs(monkeypatch):
    """One table of periodic jobs: the embedded loop runs exactly beat's jobs, each registered."""
    ran = []

    class Done:
        def failed(self) -> bool:
            return False

    for job in PERIODIC_JOBS:
        task = app.tasks[job.task]  # registered: a name beat knows is a task a worker runs
        monkeypatch.setattr(task, "apply", lambda name=job.task: ran.append(name) or Done())

    call_command("run_scheduler", "--once")

    beat_tasks = sorted(entry["task"] for entry in app.conf.beat_schedule.values())
    assert sorted(ran) == beat_tasks
    assert "webhooks.tasks.statuses_apply_stranded" in beat_tasks  # it was missing from the loop
    assert all(entry["options"]["expires"] for entry in app.conf.beat_schedule.values())
