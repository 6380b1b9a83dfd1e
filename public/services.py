"""Writes behind the citizens' pages."""

from django.utils import timezone

from public.models import Regulation


def regulation_publish(*, title: str, body: str, adopted_by: str = "") -> Regulation:
    """Publish a version of the regulation now; earlier versions stay as they were."""
    regulation = Regulation(
        title=title, body=body, adopted_by=adopted_by, published_at=timezone.now()
    )
    regulation.full_clean()
    regulation.save(force_insert=True)
    return regulation
