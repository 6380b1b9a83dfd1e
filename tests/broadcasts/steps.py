"""Steps the broadcast service tests share: a draft approved, a broadcast started, rows made."""

from unittest import mock

from broadcasts import lifecycle
from broadcasts.models import MessageTemplate
from broadcasts.services import authoring, fanout


def approve(broadcast, approver, run_on_commit, **kwargs):
    lifecycle.broadcast_submit(broadcast=broadcast, actor=broadcast.created_by)
    with run_on_commit():
        return lifecycle.broadcast_approve(broadcast=broadcast, actor=approver, **kwargs)


def events(broadcast):
    return list(broadcast.events.values_list("action", "actor__username"))


def sending(draft, approver):
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    lifecycle.broadcast_approve(broadcast=draft, actor=approver)
    fanout.broadcasts_dispatch_due()
    fan_out_without_sending(draft)


def fan_out_without_sending(broadcast):
    with mock.patch.object(fanout, "deliveries_enqueue_ranges"):
        return fanout.broadcast_fan_out(broadcast_id=broadcast.pk)


def emergency_draft(author, *, title: str = "Allerta meteo", category: str = "emergency"):
    """A draft written by `author` in `category` (an emergency's brings emergency priority),
    with the utility template that reaches citizens outside their 24-hour window."""
    template, _created = MessageTemplate.objects.get_or_create(
        name="allerta",
        language="it",
        defaults={"category": "UTILITY", "status": "APPROVED", "body": "Allerta: {{1}}"},
    )
    return authoring.broadcast_create(
        author=author,
        title=title,
        body="Allerta rossa: restate in casa.",
        category=category,
        template=template,
        template_parameters=["restate in casa"],
    )
