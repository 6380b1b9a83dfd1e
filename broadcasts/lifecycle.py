"""A broadcast's lifecycle: the transition table, who may take each step, and the functions that
take them. This is the only writer of `Broadcast.status`, and the one place the four-eyes rule
lives: the admin's buttons ask `refusal()` what to show, the services enforce the same answer.

    draft ▶ awaiting approval ▶ approved ▶ sending ▶ sent
                 (paused and cancelled on the way; an emergency goes from draft to approved;
                  its author withdraws a submitted one to change it, back to draft)

Four eyes: an approval comes from someone who neither wrote nor changed the content, and only
while the content is what was submitted (its fingerprint). Sending an emergency alone is a
permission of its own (the mayor, civil protection), only for the emergency category, and every
other approver is told at once and confirms it afterwards.

A recurring broadcast has a table of its own (`SERIES_TRANSITIONS`, at the end): approved once
under the same four-eyes rule, then locked; its occurrences are made approved by the system.

Who is told of a step is in the table too (`tells`): the approvers of a submission, the author
of the rest that concern them. The e-mails go after the commit, through a task
(`broadcasts.services.notifications`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from broadcasts import selectors
from broadcasts.models import (
    Broadcast,
    BroadcastEvent,
    BroadcastSeries,
    BroadcastSeriesEvent,
    Delivery,
)
from comune.celery import broadcast_queue, enqueue

Status = Broadcast.Status
Action = BroadcastEvent.Action

APPROVE_PERMISSION = "broadcasts.approve_broadcast"
CHANGE_PERMISSION = "broadcasts.change_broadcast"
SEND_ALONE_PERMISSION = "broadcasts.send_emergency_alone"

UNFINISHED = (
    Status.DRAFT,
    Status.AWAITING_APPROVAL,
    Status.APPROVED,
    Status.SENDING,
    Status.PAUSED,
)


# Who a step's `tells` names: those who may approve it, or its author.
APPROVERS = "approvers"
AUTHOR = "author"


class TransitionNotAllowed(Exception):
    """The broadcast is not in a state this step applies to, or the actor may not take it."""


@dataclass(frozen=True)
class Transition:
    """One step of the lifecycle: from which states, to which, recorded as which event, and the
    permission it needs (None: only the system takes it); whom it is told to, if anyone."""

    label: Promise  # a lazy translation
    sources: tuple[str, ...]
    target: str  # "": the status stays
    action: str
    permission: str | None
    tells: str = ""  # APPROVERS, AUTHOR or "" (nobody)


TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(
        gettext_lazy("Submit for approval"),
        (Status.DRAFT,),
        Status.AWAITING_APPROVAL,
        Action.SUBMITTED,
        CHANGE_PERMISSION,
        tells=APPROVERS,
    ),
    # Whoever wrote it (the author, or an editor who changed it) takes it back to change it.
    "withdraw": Transition(
        gettext_lazy("Withdraw to change it"),
        (Status.AWAITING_APPROVAL,),
        Status.DRAFT,
        Action.WITHDRAWN,
        CHANGE_PERMISSION,
    ),
    "approve": Transition(
        gettext_lazy("Approve"),
        (Status.AWAITING_APPROVAL,),
        Status.APPROVED,
        Action.APPROVED,
        APPROVE_PERMISSION,
        tells=AUTHOR,
    ),
    "emergency": Transition(
        gettext_lazy("Approve and send now (emergency)"),
        (Status.DRAFT, Status.AWAITING_APPROVAL),
        Status.APPROVED,
        Action.EMERGENCY,
        SEND_ALONE_PERMISSION,
        tells=AUTHOR,
    ),
    # Another approver vouches for an emergency sent alone; the status stays as it is.
    "confirm": Transition(
        gettext_lazy("Confirm the emergency"),
        (Status.APPROVED, Status.SENDING, Status.PAUSED, Status.SENT, Status.CANCELLED),
        "",
        Action.CONFIRMED,
        APPROVE_PERMISSION,
    ),
    "reject": Transition(
        gettext_lazy("Return to draft"),
        (Status.AWAITING_APPROVAL,),
        Status.DRAFT,
        Action.RETURNED,
        APPROVE_PERMISSION,
        tells=AUTHOR,
    ),
    "pause": Transition(
        gettext_lazy("Pause"),
        (Status.APPROVED, Status.SENDING),
        Status.PAUSED,
        Action.PAUSED,
        APPROVE_PERMISSION,
    ),
    # Back to sending if it had started, else to approved: `broadcast_resume` decides.
    "resume": Transition(
        gettext_lazy("Resume"), (Status.PAUSED,), Status.SENDING, Action.RESUMED, APPROVE_PERMISSION
    ),
    "retry": Transition(
        gettext_lazy("Retry the failed ones"),
        (Status.SENT, Status.SENDING),
        Status.SENDING,
        Action.RETRYING,
        APPROVE_PERMISSION,
    ),
    "cancel": Transition(
        gettext_lazy("Cancel"), UNFINISHED, Status.CANCELLED, Action.CANCELLED, APPROVE_PERMISSION
    ),
    # From the calendar (or the broadcast's page): an approved broadcast not started yet moves
    # to another time, or goes now; the approval stays, the quiet hours still apply.
    "reschedule": Transition(
        gettext_lazy("Reschedule"),
        (Status.APPROVED,),
        "",
        Action.RESCHEDULED,
        APPROVE_PERMISSION,
        tells=AUTHOR,
    ),
    "send_now": Transition(
        gettext_lazy("Send now"),
        (Status.APPROVED,),
        "",
        Action.SENT_NOW,
        APPROVE_PERMISSION,
        tells=AUTHOR,
    ),
    "start": Transition(
        gettext_lazy("Start sending"), (Status.APPROVED,), Status.SENDING, Action.STARTED, None
    ),
    "complete": Transition(
        gettext_lazy("Sent"), (Status.SENDING,), Status.SENT, Action.SENT, None, tells=AUTHOR
    ),
    # Meta failed some of a sent broadcast's messages in a way that means "again later" (its
    # marketing cap, a template refused after it was accepted): sending resumes for them.
    "reopen": Transition(
        gettext_lazy("Send again what WhatsApp asked to wait"),
        (Status.SENT,),
        Status.SENDING,
        Action.RETRYING,
        None,
    ),
    "fault": Transition(
        gettext_lazy("Pause on a sender fault"),
        (Status.SENDING,),
        Status.PAUSED,
        Action.PAUSED,
        None,
        tells=AUTHOR,
    ),
}


def _may_take(actor: User, name: str, broadcast: Broadcast) -> bool:
    transition = TRANSITIONS[name]
    if transition.permission is None:
        return False
    if name == "withdraw":
        # Not any editor: only those whose writing it is (four eyes' contributors).
        return actor.has_perm(transition.permission) and actor.pk in contributors(broadcast)
    if actor.has_perm(transition.permission):
        return True
    # The author may throw away their own draft.
    return (
        name == "cancel"
        and broadcast.status == Status.DRAFT
        and broadcast.created_by_id == actor.pk
        and actor.has_perm(CHANGE_PERMISSION)
    )


def contributors(broadcast: Broadcast) -> set[int]:
    """Who wrote or changed the content: the author and everyone who edited it, and, for a copy,
    whoever wrote what it copies (a recurring broadcast's occurrence: the series' writers)."""
    edited = broadcast.events.filter(action=Action.EDITED, actor__isnull=False)
    writers = {broadcast.created_by_id, *edited.values_list("actor_id", flat=True)}
    if broadcast.duplicated_from_id is not None:
        source = Broadcast.objects.filter(pk=broadcast.duplicated_from_id).first()
        if source is not None:
            writers |= contributors(source)
    if broadcast.series is not None:
        writers |= series_contributors(broadcast.series)
    return writers


def four_eyes_refusal(actor: User, broadcast: Broadcast) -> str | None:
    """Why `actor` may not approve `broadcast` although they may approve (None: they may)."""
    if broadcast.submitted_fingerprint != broadcast.content_fingerprint:
        return _("The content changed after it was submitted: return it to draft and submit it.")
    if not settings.BROADCAST_FOUR_EYES:
        return None
    if broadcast.created_by_id == actor.pk:
        return _("Another person must approve what you wrote.")
    if actor.pk in contributors(broadcast):
        return _("Another person must approve what you changed.")
    return None


def _emergency_sent_alone(broadcast: Broadcast) -> BroadcastEvent | None:
    return broadcast.events.filter(action=Action.EMERGENCY).order_by("-id").first()


def refusal(actor: User, name: str, broadcast: Broadcast) -> str | None:
    """Why `actor` may not take step `name` on `broadcast` as it is now (None: they may)."""
    transition = TRANSITIONS[name]
    if not _may_take(actor, name, broadcast):
        return _("You do not have permission for “%(action)s”.") % {"action": transition.label}
    if broadcast.status not in transition.sources:
        return _("This broadcast is %(status)s: “%(action)s” does not apply.") % {
            "status": broadcast.get_status_display(),
            "action": transition.label,
        }
    if name == "approve":
        return four_eyes_refusal(actor, broadcast)
    if name == "emergency" and broadcast.category != Broadcast.Category.EMERGENCY:
        return _("Only an emergency can be approved and sent in one step.")
    if name == "confirm":
        return _confirm_refusal(actor, broadcast)
    return None


def _confirm_refusal(actor: User, broadcast: Broadcast) -> str | None:
    sent_alone = _emergency_sent_alone(broadcast)
    if sent_alone is None:
        return _("Only an emergency sent alone is confirmed afterwards.")
    if sent_alone.actor_id == actor.pk:
        return _("Another approver must confirm the emergency you sent.")
    if broadcast.events.filter(action=Action.CONFIRMED, id__gt=sent_alone.pk).exists():
        return _("This emergency is already confirmed.")
    return None


def steps_for(actor: User, broadcast: Broadcast) -> list[str]:
    """The steps `actor` can take on `broadcast` now, in the table's order: the admin's buttons.
    Retrying shows only while some failure is worth retrying."""
    return [
        name
        for name, transition in TRANSITIONS.items()
        if transition.permission is not None
        and refusal(actor, name, broadcast) is None
        and (
            name != "retry" or selectors.broadcast_has_retryable_failures(broadcast_id=broadcast.pk)
        )
    ]


def _record(broadcast_id: int, action: str, actor: User | None, note: str = "") -> BroadcastEvent:
    return BroadcastEvent.objects.create(
        broadcast_id=broadcast_id, action=action, actor=actor, note=note
    )


def _tell_soon(name: str, event: BroadcastEvent, *, emergency: bool) -> None:
    """Once the step commits, tell whom the table says (an emergency's on the emergency queue,
    ahead of everything else). A mail that fails never undoes or stops the step."""
    if not TRANSITIONS[name].tells:
        return
    transaction.on_commit(
        functools.partial(
            enqueue,
            "broadcasts.tasks.broadcast_step_notify",
            event.pk,
            name,
            queue=broadcast_queue(emergency=emergency),
        ),
        robust=True,
    )


def _take(
    name: str,
    broadcast: Broadcast,
    actor: User | None,
    *,
    note: str = "",
    target: str | None = None,
    objection: str | None = None,
    **fields: object,
) -> Broadcast:
    """Take step `name` if the broadcast, locked and read afresh, still allows it and the actor
    may, and there is no other `objection`; record who and when. Two staff clicking at once
    cannot both succeed."""
    transition = TRANSITIONS[name]
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        refused = refusal(actor, name, locked) if actor is not None else None
        if actor is None and locked.status not in transition.sources:
            refused = _("This broadcast is %(status)s: “%(action)s” does not apply.") % {
                "status": locked.get_status_display(),
                "action": transition.label,
            }
        refused = refused or objection
        if refused:
            raise TransitionNotAllowed(refused)
        locked.status = target or transition.target or locked.status
        for field, value in fields.items():
            setattr(locked, field, value)
        locked.save(update_fields=["status", *fields])
        event = _record(locked.pk, transition.action, actor, note)
        _tell_soon(name, event, emergency=locked.is_emergency)
    return locked


def _dispatch_soon() -> None:
    enqueue("broadcasts.tasks.broadcasts_dispatch_due")


def _send_ranges_soon(broadcast: Broadcast) -> None:
    enqueue(
        "broadcasts.tasks.deliveries_enqueue_ranges",
        broadcast.pk,
        queue=broadcast_queue(emergency=broadcast.is_emergency),
    )


# --- Steps staff take -------------------------------------------------------------------------


def broadcast_submit(*, broadcast: Broadcast, actor: User) -> Broadcast:
    """Submit for approval, fingerprinting the content: an approval is of exactly this."""
    with transaction.atomic():
        submitted = _take("submit", broadcast, actor)
        submitted.submitted_fingerprint = submitted.content_fingerprint
        submitted.save(update_fields=["submitted_fingerprint"])
    return submitted


def broadcast_withdraw(*, broadcast: Broadcast, actor: User, note: str = "") -> Broadcast:
    """Its author (or another who changed it) takes a submitted broadcast back to draft to fix
    it; recorded. Submitting it again fingerprints the new content."""
    return _take("withdraw", broadcast, actor, note=note)


def broadcast_reject(*, broadcast: Broadcast, actor: User, note: str = "") -> Broadcast:
    return _take("reject", broadcast, actor, note=note)


def audience_refusal(reach: selectors.Reach, audience: str) -> str | None:
    """Why a broadcast of this `reach` may not be approved for `audience` (None: it may).
    Citizens outside their 24-hour window can be reached only by an approved template: without
    one, a broadcast that would reach some of them is approved only for those inside their
    window."""
    if audience != Broadcast.Audience.ALL:
        return None
    if not reach.needs_window_only:
        return None
    return _(
        "%(count)s citizens are outside their 24-hour window, where only an approved template "
        "reaches them, and this broadcast has none: choose a template, or approve it for those "
        "inside their window only."
    ) % {"count": reach.template_only}


def _audience_note(reach: selectors.Reach, audience: str) -> str:
    """What the approval's event says about who it reaches."""
    if audience == Broadcast.Audience.WINDOW_ONLY:
        return _(
            "only citizens inside their 24-hour window: %(in_window)s of %(total)s; "
            "%(outside)s outside it get nothing"
        ) % {"in_window": reach.in_window, "total": reach.total, "outside": reach.template_only}
    return _("%(in_window)s inside their 24-hour window (text), %(outside)s by template") % {
        "in_window": reach.in_window,
        "outside": reach.template_only,
    }


def _notes(*notes: str) -> str:
    return "; ".join(note for note in notes if note)[:500]


def broadcast_approve(
    *,
    broadcast: Broadcast,
    actor: User,
    scheduled_at: datetime | None = None,
    audience: str = Broadcast.Audience.ALL,
) -> Broadcast:
    """Approve for sending now or at `scheduled_at`, to `audience`. Four eyes: the approver is
    not the author, unless BROADCAST_FOUR_EYES is off (a one-person office). Refused for every
    subscriber when some are outside their window and there is no approved template
    (`audience_refusal`); the event records who it reaches."""
    reach = selectors.broadcast_reach(template=broadcast.template)
    approved = _take(
        "approve",
        broadcast,
        actor,
        note=_notes(_scheduled_note(scheduled_at), _audience_note(reach, audience)),
        objection=audience_refusal(reach, audience),
        approved_by=actor,
        approved_at=timezone.now(),
        scheduled_at=scheduled_at,
        audience=audience,
    )
    transaction.on_commit(_dispatch_soon)
    return approved


def broadcast_send_emergency(
    *, broadcast: Broadcast, actor: User, audience: str = Broadcast.Audience.ALL
) -> Broadcast:
    """An emergency goes out in one step, by someone allowed to send one alone, author or not.
    Every other approver is told at once, and one of them confirms it afterwards. Who it may
    reach follows the same rule as an approval (`audience_refusal`)."""
    reach = selectors.broadcast_reach(template=broadcast.template)
    approved = _take(
        "emergency",
        broadcast,
        actor,
        note=_audience_note(reach, audience),
        objection=audience_refusal(reach, audience),
        priority=Broadcast.Priority.EMERGENCY,
        approved_by=actor,
        approved_at=timezone.now(),
        scheduled_at=None,
        audience=audience,
    )
    transaction.on_commit(_dispatch_soon)
    transaction.on_commit(
        lambda: enqueue("broadcasts.tasks.approvers_notify_emergency", approved.pk)
    )
    return approved


def broadcast_confirm_emergency(*, broadcast: Broadcast, actor: User) -> Broadcast:
    """Another approver vouches, after the fact, for an emergency sent alone."""
    return _take("confirm", broadcast, actor)


def _scheduled_note(scheduled_at: datetime | None) -> str:
    if scheduled_at is None:
        return ""
    return _("to send at %s") % timezone.localtime(scheduled_at).strftime("%d/%m/%Y %H:%M")


def _when(moment: datetime | None) -> str:
    return (
        timezone.localtime(moment).strftime("%d/%m/%Y %H:%M")
        if moment
        else _("as soon as possible")
    )


def broadcast_reschedule(*, broadcast: Broadcast, actor: User, scheduled_at: datetime) -> Broadcast:
    """Move an approved broadcast that has not started to `scheduled_at` (in the future), by
    someone who may approve; recorded with the time it had. Its approval stands: the content is
    the same. A time within the quiet hours waits for their end, as at approval."""
    past = scheduled_at <= timezone.now()
    rescheduled = _take(
        "reschedule",
        broadcast,
        actor,
        note=_("from %(old)s to %(new)s")
        % {"old": _when(broadcast.scheduled_at), "new": _when(scheduled_at)},
        objection=_("This time is in the past.") if past else None,
        scheduled_at=scheduled_at,
    )
    transaction.on_commit(_dispatch_soon)
    return rescheduled


def broadcast_send_now(*, broadcast: Broadcast, actor: User) -> Broadcast:
    """An approved broadcast goes now instead of at its time, by someone who may approve;
    recorded with the time it had. Outside quiet hours it starts within seconds; within them,
    as any broadcast but an emergency, when they end."""
    sent_now = _take(
        "send_now",
        broadcast,
        actor,
        note=_("it was to go at %(old)s") % {"old": _when(broadcast.scheduled_at)}
        if broadcast.scheduled_at
        else "",
        scheduled_at=None,
    )
    transaction.on_commit(_dispatch_soon)
    return sent_now


def broadcast_pause(*, broadcast: Broadcast, actor: User, reason: str = "") -> Broadcast:
    return _take("pause", broadcast, actor, note=reason, paused_reason=reason[:500])


def broadcast_resume(*, broadcast: Broadcast, actor: User) -> Broadcast:
    """Carry on where it stopped: rows already sent are not sent again."""
    started = broadcast.started_at is not None
    resumed = _take(
        "resume",
        broadcast,
        actor,
        target=Status.SENDING if started else Status.APPROVED,
        paused_reason="",
    )
    transaction.on_commit((lambda: _send_ranges_soon(resumed)) if started else _dispatch_soon)
    return resumed


def broadcast_cancel(*, broadcast: Broadcast, actor: User) -> Broadcast:
    """Stop for good. Rows not yet sent end as failed, saying why."""
    with transaction.atomic():
        cancelled = _take("cancel", broadcast, actor, finished_at=timezone.now())
        Delivery.objects.filter(broadcast=cancelled, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.FAILED,
            failed_at=timezone.now(),
            error_title=_("Broadcast cancelled"),
            error_retryable=False,
        )
    return cancelled


def broadcast_retry_failed(*, broadcast: Broadcast, actor: User) -> int:
    """Queue again the rows that failed for a reason worth retrying; returns how many."""
    if not _may_take(actor, "retry", broadcast):
        raise TransitionNotAllowed(refusal(actor, "retry", broadcast))
    with transaction.atomic():
        count = Delivery.objects.filter(
            broadcast=broadcast, status=Delivery.Status.FAILED, error_retryable=True
        ).update(status=Delivery.Status.QUEUED, attempts=0, next_attempt_at=None, failed_at=None)
        if count:
            retrying = _take("retry", broadcast, actor, note=str(count), finished_at=None)
            transaction.on_commit(lambda: _send_ranges_soon(retrying))
    return count


# --- Steps the system takes -------------------------------------------------------------------


def broadcasts_start(*, broadcast_ids: list[int], now: datetime) -> None:
    """Approved broadcasts the dispatcher claimed (locked by the caller) start sending."""
    transition = TRANSITIONS["start"]
    Broadcast.objects.filter(id__in=broadcast_ids, status__in=transition.sources).update(
        status=transition.target, started_at=now
    )
    BroadcastEvent.objects.bulk_create(
        BroadcastEvent(broadcast_id=pk, action=transition.action) for pk in broadcast_ids
    )


def broadcast_complete(*, broadcast_id: int) -> bool:
    """A sending broadcast with nothing left queued or in flight is sent."""
    unfinished = Delivery.objects.filter(
        broadcast_id=broadcast_id, status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING]
    )
    if unfinished.exists():
        return False
    transition = TRANSITIONS["complete"]
    with transaction.atomic():
        done = Broadcast.objects.filter(pk=broadcast_id, status__in=transition.sources).update(
            status=transition.target, finished_at=timezone.now()
        )
        if done:
            event = _record(broadcast_id, transition.action, None)
            _tell_soon("complete", event, emergency=event.broadcast.is_emergency)
    return bool(done)


def broadcast_reopen(*, broadcast_id: int, note: str) -> bool:
    """A sent broadcast has rows queued again by Meta's statuses (caller's transaction): it is
    sending until they are done; the stall sweep starts their sends once they are due."""
    transition = TRANSITIONS["reopen"]
    reopened = Broadcast.objects.filter(pk=broadcast_id, status__in=transition.sources).update(
        status=transition.target, finished_at=None
    )
    if reopened:
        _record(broadcast_id, transition.action, None, note[:500])
    return bool(reopened)


def broadcast_pause_on_fault(*, broadcast_id: int, reason: str) -> bool:
    """The sender itself is broken (an expired token): pause instead of failing every row. The
    author (and whoever approved it, who may resume it) is told."""
    transition = TRANSITIONS["fault"]
    with transaction.atomic():
        paused = Broadcast.objects.filter(pk=broadcast_id, status__in=transition.sources).update(
            status=transition.target, paused_reason=reason[:500]
        )
        if paused:
            event = _record(broadcast_id, transition.action, None, reason[:500])
            _tell_soon("fault", event, emergency=event.broadcast.is_emergency)
    return bool(paused)


# --- Recurring broadcasts ---------------------------------------------------------------------
#
#   draft ▶ awaiting approval ▶ approved ▶ (ended)
#        (withdrawn by its writers, returned by an approver, reopened to be changed: to draft)
#
# Approved once, with four eyes as for a broadcast; while approved its text and rule are locked
# (the admin shows them read-only, `series_update_draft` changes only a draft), and reopening it
# to change them withdraws the approval. Each occurrence is made, approved, by the system
# (`series_occurrence_create`) with the text the series was approved with.

SeriesStatus = BroadcastSeries.Status

SERIES_TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(
        gettext_lazy("Submit for approval"),
        (SeriesStatus.DRAFT,),
        SeriesStatus.AWAITING_APPROVAL,
        Action.SUBMITTED,
        CHANGE_PERMISSION,
    ),
    "withdraw": Transition(
        gettext_lazy("Withdraw to change it"),
        (SeriesStatus.AWAITING_APPROVAL,),
        SeriesStatus.DRAFT,
        Action.WITHDRAWN,
        CHANGE_PERMISSION,
    ),
    "approve": Transition(
        gettext_lazy("Approve the series"),
        (SeriesStatus.AWAITING_APPROVAL,),
        SeriesStatus.APPROVED,
        Action.APPROVED,
        APPROVE_PERMISSION,
    ),
    "reject": Transition(
        gettext_lazy("Return to draft"),
        (SeriesStatus.AWAITING_APPROVAL,),
        SeriesStatus.DRAFT,
        Action.RETURNED,
        APPROVE_PERMISSION,
    ),
    # To change an approved series' text or rule: the approval goes, a new one is needed.
    "reopen": Transition(
        gettext_lazy("Change it (needs a new approval)"),
        (SeriesStatus.APPROVED,),
        SeriesStatus.DRAFT,
        Action.REOPENED,
        CHANGE_PERMISSION,
    ),
    "end": Transition(
        gettext_lazy("End the series"),
        (SeriesStatus.DRAFT, SeriesStatus.AWAITING_APPROVAL, SeriesStatus.APPROVED),
        SeriesStatus.ENDED,
        Action.ENDED,
        APPROVE_PERMISSION,
    ),
}


def series_contributors(series: BroadcastSeries) -> set[int]:
    """Who wrote or changed a recurring broadcast: its author and everyone who edited it."""
    edited = series.events.filter(action=Action.EDITED, actor__isnull=False)
    return {series.created_by_id, *edited.values_list("actor_id", flat=True)}


def series_refusal(actor: User, name: str, series: BroadcastSeries) -> str | None:
    """Why `actor` may not take step `name` on `series` now (None: they may). The same rules as
    a broadcast's: only its writers withdraw it, an approver who neither wrote nor changed it
    approves exactly what was submitted, its author may end their own draft."""
    transition = SERIES_TRANSITIONS[name]
    allowed = actor.has_perm(transition.permission) if transition.permission else False
    if name == "withdraw":
        allowed = allowed and actor.pk in series_contributors(series)
    if name == "end" and not allowed:
        allowed = (
            series.status == SeriesStatus.DRAFT
            and series.created_by_id == actor.pk
            and actor.has_perm(CHANGE_PERMISSION)
        )
    if not allowed:
        return _("You do not have permission for “%(action)s”.") % {"action": transition.label}
    if series.status not in transition.sources:
        return _("This recurring broadcast is %(status)s: “%(action)s” does not apply.") % {
            "status": series.get_status_display(),
            "action": transition.label,
        }
    if name == "approve":
        if series.submitted_fingerprint != series.content_fingerprint:
            return _(
                "The content changed after it was submitted: return it to draft and submit it."
            )
        if settings.BROADCAST_FOUR_EYES:
            if series.created_by_id == actor.pk:
                return _("Another person must approve what you wrote.")
            if actor.pk in series_contributors(series):
                return _("Another person must approve what you changed.")
    return None


def series_steps_for(actor: User, series: BroadcastSeries) -> list[str]:
    """The steps `actor` can take on `series` now, in the table's order: the admin's buttons."""
    return [name for name in SERIES_TRANSITIONS if series_refusal(actor, name, series) is None]


def _series_take(
    name: str,
    series: BroadcastSeries,
    actor: User,
    *,
    note: str = "",
    objection: str | None = None,
    **fields: object,
) -> BroadcastSeries:
    """Take step `name` on the series, locked and read afresh, if `actor` still may; recorded."""
    transition = SERIES_TRANSITIONS[name]
    with transaction.atomic():
        locked = BroadcastSeries.objects.select_for_update().get(pk=series.pk)
        refused = series_refusal(actor, name, locked) or objection
        if refused:
            raise TransitionNotAllowed(refused)
        locked.status = transition.target
        for field, value in fields.items():
            setattr(locked, field, value)
        locked.save(update_fields=["status", *fields])
        BroadcastSeriesEvent.objects.create(
            series=locked, action=transition.action, actor=actor, note=note[:500]
        )
    return locked


def series_submit(*, series: BroadcastSeries, actor: User) -> BroadcastSeries:
    """Submit for approval, fingerprinting the text and the rule: the approval is of these."""
    with transaction.atomic():
        submitted = _series_take("submit", series, actor)
        submitted.submitted_fingerprint = submitted.content_fingerprint
        submitted.save(update_fields=["submitted_fingerprint"])
    return submitted


def series_withdraw(*, series: BroadcastSeries, actor: User) -> BroadcastSeries:
    return _series_take("withdraw", series, actor)


def series_reject(*, series: BroadcastSeries, actor: User, note: str = "") -> BroadcastSeries:
    return _series_take("reject", series, actor, note=note)


def series_approve(
    *, series: BroadcastSeries, actor: User, audience: str = Broadcast.Audience.ALL
) -> BroadcastSeries:
    """Approve every occurrence at once, by someone who neither wrote nor changed the series
    (four eyes, as for a broadcast), for `audience` under the same rule as a broadcast's
    approval (`audience_refusal`). Occurrences are made from now on, never for times before."""
    reach = selectors.broadcast_reach(template=series.template)
    return _series_take(
        "approve",
        series,
        actor,
        note=_audience_note(reach, audience),
        objection=audience_refusal(reach, audience),
        approved_by=actor,
        approved_at=timezone.now(),
        audience=audience,
    )


def series_reopen(*, series: BroadcastSeries, actor: User) -> BroadcastSeries:
    """Back to draft to change the text or the rule: no occurrence is made until it is approved
    again. Occurrences already made keep the text they were approved with (an approver may
    reschedule or cancel them)."""
    return _series_take("reopen", series, actor, approved_by=None, approved_at=None)


def series_end(*, series: BroadcastSeries, actor: User) -> BroadcastSeries:
    """No more occurrences; those already made stay as they are."""
    return _series_take("end", series, actor)


def series_occurrence_create(
    *, series: BroadcastSeries, occurrence_at: datetime
) -> Broadcast | None:
    """The system makes the occurrence of an approved series at `occurrence_at`: a broadcast,
    approved by the series' approver, with the series' text, to send at that time (quiet hours
    apply as to any broadcast). None if it already exists: the unique (series, occurrence time)
    makes a double run or a restart harmless. The caller holds the series' lock."""
    if series.status != SeriesStatus.APPROVED or series.approved_at is None:
        raise TransitionNotAllowed(_("Only an approved recurring broadcast has occurrences."))
    if series.submitted_fingerprint != series.content_fingerprint:
        raise TransitionNotAllowed(_("The recurring broadcast changed after its approval."))
    content = {name: getattr(series, name) for name in BroadcastSeries.OCCURRENCE_FIELDS}
    occurrence = Broadcast(
        **content,
        priority=Broadcast.priority_for(series.category),
        status=Status.APPROVED,
        scheduled_at=occurrence_at,
        audience=series.audience,
        created_by_id=series.created_by_id,
        approved_by_id=series.approved_by_id,
        approved_at=series.approved_at,
        series=series,
        occurrence_at=occurrence_at,
    )
    occurrence.submitted_fingerprint = occurrence.content_fingerprint
    when = timezone.localtime(occurrence_at).strftime("%d/%m/%Y %H:%M")
    try:
        with transaction.atomic():
            occurrence.save(force_insert=True)
            _record(
                occurrence.pk,
                Action.CREATED,
                None,
                _("occurrence of the recurring broadcast #%(series)s for %(when)s")
                % {"series": series.pk, "when": when},
            )
            _record(
                occurrence.pk,
                Action.SERIES_APPROVED,
                series.approved_by,
                _("the recurring broadcast was approved on %(when)s")
                % {"when": timezone.localtime(series.approved_at).strftime("%d/%m/%Y %H:%M")},
            )
    except IntegrityError:
        return None
    transaction.on_commit(_dispatch_soon)
    return occurrence
