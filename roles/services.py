"""The staff roles as Django groups, kept complete: least privilege for editors, approvers and
the privacy officer; every permission for administrators."""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Q
from django_otp.plugins.otp_totp.models import TOTPDevice

from roles.models import (
    ADMINISTRATOR,
    APPROVER,
    EDITOR,
    EMERGENCY_SENDER,
    PRIVACY_OFFICER,
    NotificationPreference,
)

_AUTHENTICATOR_NAME = "Authenticator app"

_EDITOR_PERMISSIONS = (
    "broadcasts.add_broadcast",
    "broadcasts.change_broadcast",
    "broadcasts.view_broadcast",
    "broadcasts.view_messagetemplate",
    # Recurring broadcasts: written like a broadcast, approved (approve_broadcast) once.
    "broadcasts.add_broadcastseries",
    "broadcasts.change_broadcastseries",
    "broadcasts.view_broadcastseries",
)

# Editors and approvers never see personal data. The privacy officer reads broadcasts (what
# was sent to whom is theirs to answer for) but never writes, approves or sends one; they import
# citizens with their consent evidence, since the evidence is theirs to vouch for.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    EDITOR: _EDITOR_PERMISSIONS,
    APPROVER: (*_EDITOR_PERMISSIONS, "broadcasts.approve_broadcast", "broadcasts.view_delivery"),
    EMERGENCY_SENDER: (
        *_EDITOR_PERMISSIONS,
        "broadcasts.approve_broadcast",
        "broadcasts.view_delivery",
        "broadcasts.send_emergency_alone",
    ),
    PRIVACY_OFFICER: (
        "broadcasts.view_broadcast",
        "broadcasts.view_broadcastseries",
        "broadcasts.view_messagetemplate",
        "subscribers.add_subscriber",
        "subscribers.view_subscriber",
        "subscribers.view_consentrecord",
        "subscribers.view_inboundmessage",
        "subscribers.view_privacynotice",
        "subscribers.add_privacynotice",
        "roles.export_consentrecord",
        "roles.subject_access",
        "roles.erase_subscriber",
    ),
}


def roles_sync(*, apps: Apps = global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the role groups if missing and grant each the permissions its role needs.

    Only adds: a permission an administrator granted by hand stays. Permissions that do not
    exist (yet) are skipped; the Administrator group gets every permission there is.
    """
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:  # auth is not migrated yet
        return
    permissions = permission_model.objects.using(using)
    for name, codes in ROLE_PERMISSIONS.items():
        group, _created = group_model.objects.using(using).get_or_create(name=name)
        wanted = Q(pk__in=[])
        for code in codes:
            app_label, codename = code.split(".")
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.add(*permissions.filter(wanted))
    administrator, _created = group_model.objects.using(using).get_or_create(name=ADMINISTRATOR)
    administrator.permissions.add(*permissions.all())


def roles_sync_after_migrate(*, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """post_migrate receiver: permissions of apps installed later reach the roles, and the
    groups come back after a test database is flushed. Nothing while this app's own migration
    is not applied (`migrate roles zero` removes the groups)."""
    apps: Apps = kwargs.get("apps") or global_apps
    try:
        apps.get_model("roles", "PrivacyTasks")
    except LookupError:
        return
    roles_sync(apps=apps, using=using)


# --- What a staff member wants to be told by e-mail ---


def notification_preference_set(*, user: User, email: bool) -> NotificationPreference:
    """Turn `user`'s notifications by e-mail on or off (the dashboard shows them either way)."""
    preference, _created = NotificationPreference.objects.update_or_create(
        user=user, defaults={"email": email}
    )
    return preference


# --- The second factor: an authenticator app (TOTP) per staff account ---


def totp_device_start(*, user: User) -> TOTPDevice:
    """A new authenticator for the user, unconfirmed until they type a code it shows. An
    earlier unconfirmed one is dropped: each secret is shown on one page only."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=_AUTHENTICATOR_NAME, confirmed=False)


def totp_device_confirm(*, user: User, token: str) -> TOTPDevice | None:
    """Confirm the authenticator being set up if `token` is its current code (the only one the
    user then has); None when the code is wrong or nothing is being set up."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None or not device.verify_token(token):
            return None
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return device


def totp_device_verify(*, user: User, token: str) -> TOTPDevice | None:
    """The user's authenticator if `token` is its current code, else None. A code is accepted
    once, and wrong codes slow the next tries down (django-otp's throttling)."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is None or not device.verify_token(token):
            return None
    return device
