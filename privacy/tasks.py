"""The privacy officer's daily runs. Retention keeps its historical name, so beat schedules and
queued tasks of an installed comune still find it after an upgrade."""

import logging

from celery import shared_task
from django.utils import timezone

from privacy import anchor, retention

logger = logging.getLogger(__name__)


@shared_task(name="subscribers.tasks.retention_apply", expires=3600)
def retention_apply() -> None:
    """Daily: erase what the retention settings say is past its time."""
    retention.retention_apply(plan=retention.retention_plan(now=timezone.now()))


@shared_task(name="privacy.tasks.consent_log_anchor", expires=3600)
def consent_log_anchor() -> None:
    """Daily: sign the consent log's head and keep it where the privacy officer keeps it."""
    try:
        anchor.consent_log_anchor(now=timezone.now())
    except anchor.NowhereToAnchor as exc:
        logger.warning("consent log not anchored: %s", exc)
