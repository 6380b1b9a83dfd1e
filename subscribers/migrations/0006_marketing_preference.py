"""Meta's 131050 and its `user_preferences` webhook concern marketing messages only: the stop
becomes a stop on marketing templates (the rows stopped before keep their time), and the time
of the citizen's newest choice orders a stop and a resume that arrive out of order."""

from django.db import migrations, models
from django.db.models import F


def stops_are_choices(apps, schema_editor):
    """A stop recorded before is the newest choice known for that citizen."""
    Subscriber = apps.get_model("subscribers", "Subscriber")
    Subscriber.objects.filter(marketing_stopped_at__isnull=False).update(
        marketing_preference_at=F("marketing_stopped_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0005_consent_number_changed"),
    ]

    operations = [
        migrations.RenameField(
            model_name="subscriber",
            old_name="messages_stopped_at",
            new_name="marketing_stopped_at",
        ),
        migrations.AlterField(
            model_name="subscriber",
            name="marketing_stopped_at",
            field=models.DateTimeField(
                blank=True, null=True, verbose_name="stopped marketing messages at"
            ),
        ),
        migrations.AddField(
            model_name="subscriber",
            name="marketing_preference_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="marketing choice at"),
        ),
        migrations.RunPython(stops_are_choices, migrations.RunPython.noop),
    ]
