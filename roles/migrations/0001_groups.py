from django.contrib.auth.management import create_permissions
from django.db import migrations, models


def create_groups(apps, schema_editor):
    from roles.services import roles_sync

    # In a fresh database permissions are created only after the whole migrate run
    # (post_migrate); create them now, for the models known at this point.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    # roles_sync only adds, and skips permissions that do not exist: safe to run as it is today.
    roles_sync(apps=apps, using=schema_editor.connection.alias)


def delete_groups(apps, schema_editor):
    from roles.services import ROLE_PERMISSIONS
    from roles.models import ADMINISTRATOR

    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name__in=[*ROLE_PERMISSIONS, ADMINISTRATOR]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("subscribers", "0002_consent_hash_chain"),
        ("broadcasts", "0002_event_action_choices"),
    ]

    operations = [
        migrations.CreateModel(
            name="PrivacyTasks",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "verbose_name": "privacy task",
                "verbose_name_plural": "privacy tasks",
                "permissions": [
                    ("export_consentrecord", "Can export the consent log"),
                    ("subject_access", "Can export everything held about a phone number"),
                    ("erase_subscriber", "Can erase a subscriber's personal data"),
                ],
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.RunPython(create_groups, delete_groups),
    ]
