"""Phone numbers as citizens and spreadsheets write them, made E.164."""

import phonenumbers
from django.conf import settings


def phone_to_e164(raw: object) -> str | None:
    """The E.164 form ("+39…") of a number written in any usual way, or None if it is not one.

    Numbers without a country code are read as settings.PHONE_DEFAULT_REGION's ("333 123 4567"),
    "00" prefixes and spaces are understood; a spreadsheet's numeric cell (3331234567, or
    3331234567.0) counts as the digits it shows.
    """
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
