"""Writing broadcasts: drafts made and changed, a test sent to a staff number, and the templates
mirrored from Meta."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

import gateway
from broadcasts.models import Broadcast, BroadcastEvent, MessageTemplate
from broadcasts.services.sending import broadcast_message

Action = BroadcastEvent.Action


def broadcast_create(*, author: User, **fields: object) -> Broadcast:
    with transaction.atomic():
        broadcast = Broadcast.objects.create(created_by=author, **fields)
        BroadcastEvent.objects.create(broadcast=broadcast, action=Action.CREATED, actor=author)
    return broadcast


def broadcast_update_draft(*, broadcast: Broadcast, changes: dict[str, object]) -> bool:
    """Change a draft's content; False (nothing saved) when it is no longer a draft: a broadcast
    submitted meanwhile keeps what was submitted."""
    if not changes:
        return True
    return bool(
        Broadcast.objects.filter(pk=broadcast.pk, status=Broadcast.Status.DRAFT).update(**changes)
    )


def broadcast_send_test(*, broadcast: Broadcast, actor: User, phone: str) -> gateway.SendResult:
    """Send the broadcast, as a citizen would get it, to one staff number before approval."""
    message = broadcast_message(broadcast=broadcast, to=phone, callback_data=None)
    with gateway.get_backend() as backend:
        result = backend.send(message)
    note = result.error.title if result.error else _("delivered")
    BroadcastEvent.objects.create(
        broadcast=broadcast, action=Action.TEST_SENT, actor=actor, note=note
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
