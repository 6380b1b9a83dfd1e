"""Defence in depth for personal data: no phone number reaches a log line, whatever logs it.

The redaction is a formatter, so it covers what a filter on the message cannot: the traceback of
an exception (a database error quoting a row's values) and the stack. Every process formats its
log lines with it: the web tier through Django's LOGGING, and the Celery workers and beat too,
since they leave the root logger to Django's configuration (CELERY_WORKER_HIJACK_ROOT_LOGGER off).
"""

import copy
import logging

from gateway.redaction import redact


class RedactingFormatter(logging.Formatter):
    """Formats a record with phone numbers masked in its message, traceback and stack."""

    def format(self, record: logging.LogRecord) -> str:
        # A copy: other handlers of the same record format it themselves.
        redacted = copy.copy(record)
        redacted.msg, redacted.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            redacted.exc_text = self.formatException(record.exc_info)
        if redacted.exc_text:
            redacted.exc_text = redact(redacted.exc_text)
        if record.stack_info:
            redacted.stack_info = redact(record.stack_info)
        return super().format(redacted)
