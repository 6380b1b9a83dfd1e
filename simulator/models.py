from django.db import models
from django.utils.translation import gettext_lazy as _


class ChatMessage(models.Model):
    """One bubble of the simulator's chat: what a pretend citizen wrote, or what the simulator
    backend "sent" them. Development data only: nothing in production writes here."""

    class Direction(models.TextChoices):
        FROM_CITIZEN = "in", _("from the citizen")
        TO_CITIZEN = "out", _("to the citizen")

    address = models.CharField(_("address"), max_length=128)  # E.164, or a WhatsApp user id
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    body = models.TextField(_("text"))
    message_id = models.CharField(_("message id"), max_length=256, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("simulator chat message")
        verbose_name_plural = _("simulator chat messages")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["address", "created_at"], name="simulator_chat_idx")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def from_citizen(self) -> bool:
        return self.direction == self.Direction.FROM_CITIZEN
