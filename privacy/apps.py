from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    """The privacy officer's app: retention, erasure, exports and subject access. It holds no
    models of its own: it reads and erases the subscribers' and broadcasts' data."""

    name = "privacy"
    verbose_name = _("Privacy")

    def ready(self) -> None:
        from privacy import tasks  # noqa: F401 - registers the tasks, see comune.celery.enqueue
