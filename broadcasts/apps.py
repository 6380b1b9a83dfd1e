from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BroadcastsConfig(AppConfig):
    name = "broadcasts"
    verbose_name = _("Broadcasts")

    def ready(self) -> None:
        from broadcasts import tasks  # noqa: F401 - registers the tasks, see comune.celery.enqueue
