"""Reads of the inbound edge."""

from webhooks.models import StatusDeadLetter


def status_dead_letter_count() -> int:
    """Status webhooks set aside because the database refused them."""
    return StatusDeadLetter.objects.count()
