"""One field decides emergency: the category. Broadcasts not yet started get the priority their
category implies (emergency for the emergency category, normal for every other); those already
sending or finished keep the priority they went out with, as their history says.

A broadcast awaiting approval whose fingerprint matched its content is fingerprinted again after
the change, which is the system's and not a person's, so that its approval stays possible; one
whose content had already changed behind its submission stays refused, as before.
"""

import hashlib
import json

from django.db import migrations

NOT_STARTED = ("draft", "awaiting_approval", "approved")
# Broadcast.CONTENT_FIELDS when this migration was written.
CONTENT_FIELDS = (
    "title",
    "body",
    "category",
    "priority",
    "template_id",
    "template_parameters",
    "media_url",
    "is_public",
)


def _fingerprint(broadcast) -> str:
    content = {name: getattr(broadcast, name) for name in CONTENT_FIELDS}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def priority_from_category(apps, schema_editor):
    Broadcast = apps.get_model("broadcasts", "Broadcast")
    db = schema_editor.connection.alias
    emergency = Broadcast.objects.using(db).filter(category="emergency").exclude(
        priority="emergency"
    )
    normal = Broadcast.objects.using(db).exclude(category="emergency").exclude(priority="normal")
    for queryset, priority in ((emergency, "emergency"), (normal, "normal")):
        for broadcast in queryset.filter(status__in=NOT_STARTED).iterator():
            matched = broadcast.submitted_fingerprint == _fingerprint(broadcast)
            broadcast.priority = priority
            fields = ["priority"]
            if broadcast.status == "awaiting_approval" and matched:
                broadcast.submitted_fingerprint = _fingerprint(broadcast)
                fields.append("submitted_fingerprint")
            broadcast.save(update_fields=fields)


class Migration(migrations.Migration):
    dependencies = [("broadcasts", "0007_withdrawn_event")]

    operations = [migrations.RunPython(priority_from_category, migrations.RunPython.noop)]
