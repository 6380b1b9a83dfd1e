from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = _("Subscribers and consent")

    def ready(self) -> None:
        from subscribers import tasks  # noqa: F401 - registers the tasks, see comune.celery.enqueue
