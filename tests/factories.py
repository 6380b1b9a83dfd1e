"""factory_boy factories for what tests make directly: staff accounts and Meta's templates.
Broadcasts, subscribers and consent are made through the services a user goes through."""

from __future__ import annotations

import factory
from django.contrib.auth.models import Permission, User
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from broadcasts.models import MessageTemplate
from roles.selectors import user_second_factor_required


class StaffFactory(factory.django.DjangoModelFactory):
    """A staff account; `permissions=("approve_broadcast", …)` gives it those codenames."""

    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    password = factory.django.Password("pw")

    @factory.post_generation
    def permissions(self, create: bool, codenames: tuple[str, ...] | None, **kwargs) -> None:
        if create and codenames:
            self.user_permissions.set(Permission.objects.filter(codename__in=codenames))


def staff(username: str, *codenames: str) -> User:
    """A staff account with those permissions, read afresh so its permission cache is empty."""
    user = StaffFactory(username=username, permissions=codenames)
    return User.objects.get(pk=user.pk)


def authenticator(user: User) -> TOTPDevice:
    """A confirmed authenticator app for the user, with a random secret as when set up."""
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def log_in(client: Client, user: User) -> None:
    """Log a staff member in as after their password and, where their role needs it (the
    Administrator, the privacy officer, superusers), their authenticator's code."""
    client.force_login(user)
    if user_second_factor_required(user=user):
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = authenticator(user).persistent_id
        session.save()


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    """A template as Meta approved it and `sync_templates` mirrored it."""

    class Meta:
        model = MessageTemplate

    name = factory.Sequence(lambda n: f"avviso_{n}")
    language = "it"
    category = "UTILITY"
    status = "APPROVED"
    body = "Avviso dal Comune: {{1}}"
