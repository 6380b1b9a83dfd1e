from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    """The staff dashboard on the admin's index page."""

    name = "dashboard"
    verbose_name = _("Dashboard")
