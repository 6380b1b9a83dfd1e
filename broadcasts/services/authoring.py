"""Writing broadcasts: drafts made and changed, a test sent to a staff number, and the templates
mirrored from Meta."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import gateway
from broadcasts.models import Broadcast, BroadcastEvent, MessageTemplate, StaffTestNumber
from broadcasts.services.sending import broadcast_message
from subscribers.phones import mask_address

Action = BroadcastEvent.Action


def broadcast_create(*, author: User, **fields: object) -> Broadcast:
    """A draft by `author`. Its priority follows its category (`Broadcast.priority_for`): a
    priority that contradicts the category is refused."""
    category = str(fields.get("category", ""))
    priority = Broadcast.priority_for(category)
    if fields.get("priority", priority) != priority:
        raise ValueError("The category decides the priority: only an emergency is urgent.")
    fields["priority"] = priority
    with transaction.atomic():
        broadcast = Broadcast.objects.create(created_by=author, **fields)
        BroadcastEvent.objects.create(broadcast=broadcast, action=Action.CREATED, actor=author)
    return broadcast


# What a copy takes from its source: the content, never its time, its approval or its history.
DUPLICATED_FIELDS = (
    "title",
    "body",
    "category",
    "template",
    "template_parameters",
    "media_url",
    "is_public",
)


def broadcast_duplicate(*, broadcast: Broadcast, actor: User) -> Broadcast:
    """A new draft by `actor` with the content of `broadcast`, whatever its state (a sent one
    sent again, an occurrence of a recurring broadcast made a one-off). Recorded on the copy,
    which remembers its source: whoever wrote the source is among the copy's writers, so four
    eyes still needs someone else to approve it."""
    if not actor.has_perm("broadcasts.add_broadcast"):
        raise PermissionDenied(_("You may not write broadcasts."))
    values = {name: getattr(broadcast, name) for name in DUPLICATED_FIELDS}
    with transaction.atomic():
        copy = broadcast_create(author=actor, duplicated_from=broadcast, **values)
        BroadcastEvent.objects.create(
            broadcast=copy,
            action=Action.DUPLICATED,
            actor=actor,
            note=_("copy of #%(id)s “%(title)s”") % {"id": broadcast.pk, "title": broadcast.title},
        )
    return copy


class TestSendRefused(Exception):
    """The test cannot go: a number nobody listed, or too many tests this hour."""


def broadcast_update_draft(
    *, broadcast: Broadcast, actor: User, changes: dict[str, object]
) -> bool:
    """Change a draft's content, recording who changed what (four eyes counts them among its
    contributors); False (nothing saved) when it is no longer a draft: a broadcast submitted
    meanwhile keeps what was submitted. A new category brings its priority along."""
    changes = {name: value for name, value in changes.items() if name != "priority"}
    if "category" in changes:
        changes["priority"] = Broadcast.priority_for(str(changes["category"]))
    if not changes:
        return True
    with transaction.atomic():
        changed = Broadcast.objects.filter(pk=broadcast.pk, status=Broadcast.Status.DRAFT).update(
            **changes
        )
        if changed:
            BroadcastEvent.objects.create(
                broadcast=broadcast,
                action=Action.EDITED,
                actor=actor,
                note=", ".join(sorted(changes))[:500],
            )
    return bool(changed)


def broadcast_send_test(
    *, broadcast: Broadcast, actor: User, test_number: StaffTestNumber
) -> gateway.SendResult:
    """Send the broadcast, as a citizen would get it, to one of the staff test numbers an
    Administrator listed, at most BROADCAST_TEST_SENDS_PER_HOUR per user an hour. The event
    names the number masked."""
    if not StaffTestNumber.objects.filter(pk=test_number.pk, phone=test_number.phone).exists():
        raise TestSendRefused(_("Tests go only to the staff test numbers an Administrator lists."))
    with transaction.atomic():
        # Serialises one user's tests, so two at once cannot both pass the limit.
        User.objects.select_for_update().filter(pk=actor.pk).first()
        hour_ago = timezone.now() - timedelta(hours=1)
        sent = BroadcastEvent.objects.filter(
            action=Action.TEST_SENT, actor=actor, at__gte=hour_ago
        ).count()
        if sent >= settings.BROADCAST_TEST_SENDS_PER_HOUR:
            raise TestSendRefused(
                _("You sent %(count)s tests in the last hour: try again later.") % {"count": sent}
            )
        # As a citizen outside the window gets it (the template), or else as one inside it.
        message = broadcast_message(
            broadcast=broadcast, to=test_number.phone, callback_data=None
        ) or broadcast_message(
            broadcast=broadcast, to=test_number.phone, callback_data=None, window_open=True
        )
        if message is None:  # a broadcast has a text or a template: not reached
            raise TestSendRefused(_("This broadcast has neither a text nor a template."))
        with gateway.get_backend() as backend:
            result = backend.send(message)
        outcome = result.error.title if result.error else _("delivered")
        BroadcastEvent.objects.create(
            broadcast=broadcast,
            action=Action.TEST_SENT,
            actor=actor,
            note=f"{mask_address(test_number.phone)}: {outcome}"[:500],
        )
    return result


def templates_sync(*, templates: list[dict]) -> tuple[int, int]:
    """Mirror Meta's templates (as the gateway lists them); returns (created, updated).
    Templates Meta no longer lists are kept, marked as such, since broadcasts refer to them."""
    created = updated = 0
    seen = []
    with transaction.atomic():
        for item in templates:
            _template, was_created = MessageTemplate.objects.update_or_create(
                name=item["name"],
                language=item["language"],
                defaults={
                    "category": item.get("category", ""),
                    "status": item.get("status", ""),
                    "header": (item.get("header") or "")[:60],
                    "body": item.get("body") or "",
                },
            )
            created += was_created
            updated += not was_created
            seen.append((item["name"], item["language"]))
        for template in MessageTemplate.objects.all():
            if (template.name, template.language) not in seen:
                template.status = "DELETED"
                template.save(update_fields=["status", "synced_at"])
    return created, updated
