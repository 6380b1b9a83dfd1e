"""Steps the broadcast service tests share: a draft approved, a broadcast started, rows made."""

from unittest import mock

from broadcasts import lifecycle
from broadcasts.services import fanout


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
