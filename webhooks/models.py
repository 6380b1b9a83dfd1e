"""What the inbound edge keeps: status webhooks waiting to be applied, and those it had to set
aside."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StatusWebhook(models.Model):
    """A verified status webhook's body, stored before Meta is answered 200 and deleted when its
    statuses are applied (seconds later). It holds recipients' numbers until then."""

    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    body = models.BinaryField(_("body"))

    class Meta:
        verbose_name = _("status webhook waiting")
        verbose_name_plural = _("status webhooks waiting")

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M:%S}"


class StatusDeadLetter(models.Model):
    """A buffered status webhook whose statuses the database refused (or that no row could
    hold), set aside so that the bodies after it are applied; a drain that retried it would stop
    every status behind it for good. Its body is kept with every number masked: it tells staff
    what Meta sent, and holds no personal data in clear."""

    set_aside_at = models.DateTimeField(_("set aside at"), default=timezone.now, db_index=True)
    reason = models.CharField(_("reason"), max_length=100)
    statuses = models.PositiveIntegerField(_("statuses"))
    body = models.JSONField(_("body (numbers masked)"))

    class Meta:
        verbose_name = _("status webhook set aside")
        verbose_name_plural = _("status webhooks set aside")
        ordering = ["-set_aside_at"]

    def __str__(self) -> str:
        return f"{self.set_aside_at:%Y-%m-%d %H:%M:%S} {self.reason}"
