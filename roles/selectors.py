"""Reads about staff accounts: whether one needs a second factor, the one it has, and whether they
want e-mail."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from roles.models import EXPORT_CONSENT_LOG, SUBJECT_ACCESS, NotificationPreference

# Who can read every citizen's number and consent, or change every staff account, proves who
# they are twice: the Privacy officer, the Administrator, superusers (and anyone granted the same).
SECOND_FACTOR_PERMISSIONS = (EXPORT_CONSENT_LOG, SUBJECT_ACCESS, "auth.change_user")


def user_second_factor_required(*, user: User) -> bool:
    """Read from the permissions the admin loads anyway: no query of its own."""
    return any(user.has_perm(permission) for permission in SECOND_FACTOR_PERMISSIONS)


def user_totp_device(*, user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator, if they set one up."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def user_totp_device_pending(*, user: User) -> TOTPDevice | None:
    """The authenticator being set up (shown, its first code not yet typed)."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def user_wants_email(*, user: User) -> bool:
    """Whether `user` gets notifications by e-mail (yes unless they turned it off)."""
    return not NotificationPreference.objects.filter(user=user, email=False).exists()


def users_emailed(users: QuerySet[User]) -> QuerySet[User]:
    """Those of `users` that an e-mail reaches and who want one: active, with an address, their
    e-mail notifications not turned off."""
    return (
        users.filter(is_active=True).exclude(email="").exclude(notification_preference__email=False)
    )
