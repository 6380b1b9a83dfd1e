"""The product's Celery app, as `celery -A comune` runs it, plus one task that logs a phone
number and fails with it: the worker-process test of the log redaction starts this app."""

import logging

from comune.celery import app

logger = logging.getLogger("tests.integration.logging_app")


@app.task(name="tests.log_a_number")
def log_a_number(number: str) -> None:
    logger.warning("reply to %s failed", number)
    raise ValueError(f"no WhatsApp account for {number}")


__all__ = ["app"]
