"""The role groups' names in Italian, as the comune's staff read them in the admin; members and
permissions stay, since a group is renamed, not replaced."""

from django.db import migrations

RENAMED = {
    "Editor": "Redattore",
    "Approver": "Approvatore",
    "Emergency sender": "Invio emergenze",
    "Privacy officer": "Responsabile protezione dati",
    "Administrator": "Amministratore",
}


def _rename(apps, schema_editor, names: dict[str, str]) -> None:
    groups = apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias)
    for old, new in names.items():
        if not groups.filter(name=new).exists():
            groups.filter(name=old).update(name=new)


def to_italian(apps, schema_editor):
    _rename(apps, schema_editor, RENAMED)


def to_english(apps, schema_editor):
    _rename(apps, schema_editor, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [("roles", "0002_notification_preference")]

    operations = [migrations.RunPython(to_italian, to_english)]
