"""What the inbound edge keeps: the status webhooks it had to set aside."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
