"""One rule for every value the product writes into a CSV or XLSX cell (the consent log, the
delivery report): a spreadsheet must show it, never run it.

Excel and LibreOffice run a cell that starts with `=`, `+`, `-` or `@` (and a tab or carriage
return before them) as a formula: a citizen's text or a notice version `=HYPERLINK(…)` would become
a live link or worse. Such text gets a leading apostrophe, as OWASP recommends. A plain signed
number (an E.164 phone number, `+393331234567`) is left alone: as a formula it is only itself.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from django.utils import timezone

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def spreadsheet_cell(value: object) -> object:
    """`value` as a cell: text that cannot run, numbers as numbers, nothing as an empty cell,
    structures as JSON text, instants in local time."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    text = (
        json.dumps(value, ensure_ascii=False, sort_keys=True)
        if isinstance(value, dict | list)
        else str(value)
    )
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return f"'{text}"
    return text
