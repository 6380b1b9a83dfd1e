"""Reads behind the citizens' pages."""

from django.utils import timezone

from broadcasts.models import Broadcast
from gateway.formatting import template_fill
from public.models import Regulation


def regulation_current() -> Regulation | None:
    """The newest regulation already published."""
    return Regulation.objects.filter(published_at__lte=timezone.now()).first()


def broadcast_public_text(*, broadcast: Broadcast) -> str:
    """What citizens read: the free text, or the template filled with its parameters."""
    if broadcast.body or broadcast.template is None:
        return broadcast.body
    return template_fill(broadcast.template.body, list(broadcast.template_parameters))


def regulation_any() -> bool:
    """Whether any version exists, published or still to come."""
    return Regulation.objects.exists()
