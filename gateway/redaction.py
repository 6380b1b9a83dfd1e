"""Phone numbers masked in text that leaves the gateway for storage or a log: Meta's error titles
sometimes quote the recipient's number. The one rule, used by the gateway's error reading and
by the product's log formatter alike."""

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
