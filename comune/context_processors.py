from django.conf import settings
from django.http import HttpRequest


def comune(request: HttpRequest) -> dict:
    """The comune's name and number, shown on every page."""
    return {
        "COMUNE_NAME": settings.COMUNE_NAME,
        "COMUNE_WHATSAPP_NUMBER": settings.COMUNE_WHATSAPP_NUMBER,
    }
