"""The staff roles are Django groups (created by this app's data migration); what they may do
is Django permissions. The privacy officer's tasks belong to no single model, so they hang on
this table-less model, Django's idiom for app-level permissions."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

EXPORT_CONSENT_LOG = "roles.export_consentrecord"
SUBJECT_ACCESS = "roles.subject_access"
ERASE_SUBSCRIBER = "roles.erase_subscriber"

# The groups' names are data the comune's staff read in the admin: Italian (migration 0003
# renamed the English ones of earlier versions). Code refers to them only through these names.
EDITOR = "Redattore"
APPROVER = "Approvatore"
# The mayor and civil protection: may send an emergency alone (the others confirm it after).
EMERGENCY_SENDER = "Invio emergenze"
PRIVACY_OFFICER = "Responsabile protezione dati"
ADMINISTRATOR = "Amministratore"


class PrivacyTasks(models.Model):  # noqa: DJ008 - never instantiated, it carries permissions
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("export_consentrecord", _("Can export the consent log")),
            ("subject_access", _("Can export everything held about a phone number")),
            ("erase_subscriber", _("Can erase a subscriber's personal data")),
        ]
        verbose_name = _("privacy task")
        verbose_name_plural = _("privacy tasks")


class NotificationPreference(models.Model):
    """What a staff member wants to be told by e-mail. Without a row they get e-mail: it is how
    an approver learns that something waits for them."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preference",
        verbose_name=_("user"),
    )
    email = models.BooleanField(_("notifications by e-mail"), default=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return str(self.user)
