from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RolesConfig(AppConfig):
    name = "roles"
    verbose_name = _("Roles")

    def ready(self) -> None:
        from roles.services import roles_sync_after_migrate

        # Runs after auth's create_permissions, which is connected earlier.
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="roles_sync_after_migrate")
