from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("WhatsApp webhooks")

    def ready(self) -> None:
        from webhooks import tasks  # noqa: F401 - registers the tasks, see comune.celery.enqueue
