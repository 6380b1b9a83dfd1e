from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _


def comune(request: HttpRequest) -> dict:
    """The comune's name, its service's and its number, shown on every page."""
    return {
        "COMUNE_NAME": settings.COMUNE_NAME,
        "SERVICE_NAME": settings.COMUNE_SERVICE_NAME.strip() or _("WhatsApp information service"),
        "COMUNE_WHATSAPP_NUMBER": settings.COMUNE_WHATSAPP_NUMBER,
    }
