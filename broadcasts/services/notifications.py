"""Telling staff what needs them, by e-mail through Django's mail backend (the console unless
EMAIL_URL says otherwise): the approvers, when a broadcast waits for them or an emergency went out
without a second pair of eyes; the author, when their broadcast is approved, scheduled, sent,
returned to draft, rescheduled or sent now, or paused by a fault.

Who is told of which step is the lifecycle table's `tells`; the lifecycle queues
`broadcasts.tasks.broadcast_step_notify` once the step commits. Mails are Italian, from the
templates in templates/broadcasts/email/; they carry titles, usernames, notes and links, never a
citizen's number (free text is masked as in the logs). Nobody is told of their own step, and
staff who turned e-mail off (roles.NotificationPreference) get none: the dashboard still shows
them what waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.mail import EmailMessage, get_connection
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from broadcasts import lifecycle, selectors
from broadcasts.models import Broadcast, BroadcastEvent
from gateway.redaction import redact
from roles.selectors import users_emailed

# A start further off than this, when approved, is "scheduled" rather than "sending now".
_SCHEDULED_AFTER = timedelta(minutes=1)
# Mail clients that sort by importance put an emergency's mail first.
_URGENT_HEADERS = {"Importance": "high", "X-Priority": "1"}


def users_with_permission(codename: str) -> QuerySet[User]:
    """Active staff who hold `app_label.codename`, through a group, directly or as superusers."""
    app_label, name = codename.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=name)
    return (
        User.objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__in=permission)
            | Q(user_permissions__in=permission)
        )
        .distinct()
    )


@dataclass(frozen=True)
class _Mail:
    kind: str  # templates/broadcasts/email/<kind>_subject.txt and <kind>_body.txt
    recipients: QuerySet[User]
    context: dict


def _send(mail: _Mail, broadcast: Broadcast) -> int:
    """Render the mail (in the language active: the callers choose the site's) and send one
    message per recipient who wants e-mail; returns how many were sent."""
    users = list(users_emailed(mail.recipients).order_by("pk"))
    if not users:
        return 0
    emergency = broadcast.category == Broadcast.Category.EMERGENCY or broadcast.is_emergency
    url = settings.SITE_URL + reverse("admin:broadcasts_broadcast_change", args=[broadcast.pk])
    context = {
        "title": redact(broadcast.title),
        "category": broadcast.get_category_display(),
        "emergency": emergency,
        "url": url,
        **mail.context,
    }
    rendered = render_to_string(f"broadcasts/email/{mail.kind}_subject.txt", context)
    subject = " ".join(rendered.split())  # one line
    body = render_to_string(f"broadcasts/email/{mail.kind}_body.txt", context)
    messages = [
        EmailMessage(subject, body, to=[user.email], headers=_URGENT_HEADERS if emergency else None)
        for user in users
    ]
    return get_connection(fail_silently=False).send_messages(messages) or 0


def _username(user: User | None) -> str:
    return user.get_username() if user is not None else ""


def approvers_notify_emergency(*, broadcast_id: int) -> int:
    """E-mail every approver but the sender about an emergency sent alone; returns how many."""
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    sent = broadcast.events.filter(action=BroadcastEvent.Action.EMERGENCY).order_by("-id").first()
    sender = sent.actor if sent else None
    recipients = users_with_permission(lifecycle.APPROVE_PERMISSION)
    if sender is not None:
        recipients = recipients.exclude(pk=sender.pk)
    mail = _Mail("emergency_sent_alone", recipients, {"sender": _username(sender) or "?"})
    with translation.override(settings.LANGUAGE_CODE):
        return _send(mail, broadcast)


def broadcast_step_notify(*, event_id: int, step: str) -> int:
    """Tell whom the lifecycle table names (`tells`) that step `step`, recorded as event
    `event_id`, was taken; returns how many mails went."""
    event = BroadcastEvent.objects.select_related("broadcast", "actor").get(pk=event_id)
    broadcast = event.broadcast
    tells = lifecycle.TRANSITIONS[step].tells
    with translation.override(settings.LANGUAGE_CODE):
        if tells == lifecycle.APPROVERS:
            mail = _approvers_mail(broadcast, event)
        elif tells == lifecycle.AUTHOR:
            mail = _author_mail(step, broadcast, event)
        else:
            return 0
        if event.actor_id is not None:
            mail = _Mail(mail.kind, mail.recipients.exclude(pk=event.actor_id), mail.context)
        return _send(mail, broadcast)


def _approvers_mail(broadcast: Broadcast, event: BroadcastEvent) -> _Mail:
    """A submitted broadcast, to those who may approve it: four eyes leaves out whoever wrote or
    changed it, since they could not."""
    recipients = users_with_permission(lifecycle.APPROVE_PERMISSION)
    if settings.BROADCAST_FOUR_EYES:
        recipients = recipients.exclude(pk__in=lifecycle.contributors(broadcast))
    return _Mail("submitted", recipients, {"submitter": _username(event.actor)})


def _author_mail(step: str, broadcast: Broadcast, event: BroadcastEvent) -> _Mail:
    author = User.objects.filter(pk=broadcast.created_by_id)
    context: dict = {"actor": _username(event.actor), "note": redact(event.note)}
    if step in ("approve", "emergency"):
        starts_at = selectors.broadcast_sending_starts_at(broadcast=broadcast, now=event.at)
        if starts_at - event.at <= _SCHEDULED_AFTER:
            return _Mail("approved", author, context)
        moved = starts_at > (broadcast.scheduled_at or event.at)
        context.update(
            when=selectors.start_phrase(starts_at, now=event.at),
            quiet_hours=selectors.quiet_hours_label() if moved else "",
        )
        return _Mail("scheduled", author, context)
    if step in ("reschedule", "send_now"):
        starts_at = selectors.broadcast_sending_starts_at(broadcast=broadcast, now=event.at)
        moved = starts_at > (broadcast.scheduled_at or event.at)
        context.update(
            when=selectors.start_phrase(starts_at, now=event.at),
            quiet_hours=selectors.quiet_hours_label() if moved else "",
        )
        return _Mail("rescheduled", author, context)
    if step == "complete":
        context["counts"] = selectors.broadcast_delivery_counts(broadcast_id=broadcast.pk)
        return _Mail("sent", author, context)
    if step == "reject":
        return _Mail("returned", author, context)
    # A fault: the approver, who may resume it once the fault is fixed, is told too.
    recipients = User.objects.filter(pk__in=[broadcast.created_by_id, broadcast.approved_by_id])
    return _Mail("paused", recipients, context)
