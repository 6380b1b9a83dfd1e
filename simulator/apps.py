from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SimulatorConfig(AppConfig):
    """A development tool that plays a citizen's phone against the real webhook."""

    name = "simulator"
    verbose_name = _("Simulator")
