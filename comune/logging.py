"""Defence in depth for personal data: no phone number reaches a log line, whatever logs it."""

import logging
import re

# An E.164 number or a bare international number as Meta writes it (9 to 15 digits).
_PHONE = re.compile(r"\+?\b\d{9,15}\b")


def redact(text: str) -> str:
    """Keep the last two digits, enough to tell two numbers apart in a support conversation."""
    return _PHONE.sub(lambda m: "***" + m.group(0)[-2:], text)


class RedactPhoneNumbers(logging.Filter):
    """Rewrites a record's message with phone numbers masked, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            message = record.getMessage()
            redacted = redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True
