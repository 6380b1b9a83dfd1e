from django.db import models
from django.utils.translation import gettext_lazy as _


class ErasureTombstone(models.Model):
    """That a number (or user id) was erased, and when, kept only as its keyed pseudonym.

    Erasure deletes the citizen's inbound messages, which were also the webhook's memory of
    what it handled; without this, Meta redelivering the old signed Iscrivimi (or a replay of
    it) would subscribe them again. A message older than its address's tombstone is ignored; a
    new Iscrivimi, written after the erasure, subscribes as usual.
    """

    pseudonym = models.CharField(_("pseudonym"), max_length=64, db_index=True)
    erased_at = models.DateTimeField(_("erased at"))

    class Meta:
        verbose_name = _("erasure tombstone")
        verbose_name_plural = _("erasure tombstones")

    def __str__(self) -> str:
        return f"{self.pseudonym[:12]}… {self.erased_at:%Y-%m-%d}"
