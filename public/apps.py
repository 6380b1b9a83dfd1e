from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PublicConfig(AppConfig):
    """The citizens' pages: how to subscribe, the regulation, the archive and its feeds."""

    name = "public"
    verbose_name = _("Public pages")
