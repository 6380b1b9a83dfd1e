from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Regulation(models.Model):
    """A version of the service's regulation as the comune adopted it; the newest published one
    is what citizens read."""

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"))
    adopted_by = models.CharField(
        _("adopted by"),
        max_length=200,
        blank=True,
        help_text=_("The act that adopted it, e.g. a council resolution and its date."),
    )
    published_at = models.DateTimeField(_("published at"), default=timezone.now)

    class Meta:
        verbose_name = _("service regulation")
        verbose_name_plural = _("service regulations")
        ordering = ["-published_at", "-id"]

    def __str__(self) -> str:
        return self.title
