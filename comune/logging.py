"""Defence in depth for personal data: no phone number reaches a log line, whatever logs it.

The redaction is a formatter, so it covers what a filter on the message cannot: the traceback of
an exception (a database error quoting a row's values) and the stack. Every process formats its
log lines with it: the web tier through Django's LOGGING, and the Celery workers and beat too,
since they leave the root logger to Django's configuration (CELERY_WORKER_HIJACK_ROOT_LOGGER off).
"""

import copy
import logging
import re

# A number as it turns up in text: Meta's bare international digits or E.164 (9 to 15 digits),
# an international number with separators (+39 333 123 4567, 0039-333-1234567), or an Italian
# mobile or landline number written in groups (333 123 4567, 02 1234 5678). Dates and times are
# not numbers: they neither start with + or 00 nor look like these groups.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"(?:\+|00)\d(?:[ .\-/()]{0,2}\d){7,14}"
    r"|\d{9,15}"
    r"|3\d{2}[ .\-]\d{3}[ .\-]?\d{3,4}"
    r"|0\d{1,3}[ .\-]\d{3,4}[ .\-]?\d{3,4}"
    r")(?!\w)"
)


def redact(text: str) -> str:
    """Keep the last two digits, enough to tell two numbers apart in a support conversation."""
    return _PHONE.sub(lambda m: "***" + m.group(0)[-2:], text)


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
