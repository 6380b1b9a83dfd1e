"""Telling staff what needs them: the other approvers, when an emergency went out without a
second pair of eyes."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.mail import send_mass_mail
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from broadcasts.models import Broadcast, BroadcastEvent


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


def approvers_notify_emergency(*, broadcast_id: int) -> int:
    """E-mail every approver but the sender about an emergency sent alone; returns how many."""
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    sent = broadcast.events.filter(action=BroadcastEvent.Action.EMERGENCY).order_by("-id").first()
    sender = sent.actor if sent else None
    recipients = users_with_permission("broadcasts.approve_broadcast").exclude(email="")
    if sender is not None:
        recipients = recipients.exclude(pk=sender.pk)
    url = settings.SITE_URL + reverse("admin:broadcasts_broadcast_change", args=[broadcast.pk])
    subject = _("Emergency sent without a second approver: %(title)s") % {"title": broadcast.title}
    body = _(
        "%(sender)s sent the emergency “%(title)s” to every subscriber without a second "
        "approver. Read it and confirm it: %(url)s"
    ) % {"sender": sender.get_username() if sender else "?", "title": broadcast.title, "url": url}
    messages = [(subject, body, None, [user.email]) for user in recipients]
    return send_mass_mail(messages, fail_silently=False) if messages else 0
