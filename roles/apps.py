from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RolesConfig(AppConfig):
    name = "roles"
    verbose_name = _("Roles")

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth.signals import user_login_failed

        from roles.forms import StaffLoginForm
        from roles.receivers import login_failure_log
        from roles.services import roles_sync_after_migrate

        # Runs after auth's create_permissions, which is connected earlier.
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="roles_sync_after_migrate")
        user_login_failed.connect(login_failure_log, dispatch_uid="login_failure_log")
        # The staff log in with their password and, when they have one, their authenticator.
        admin.site.login_form = StaffLoginForm
        admin.site.login_template = "roles/login.html"
