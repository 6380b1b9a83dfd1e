"""Phone numbers as citizens and spreadsheets write them, made E.164."""

import phonenumbers
from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


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


class PhoneNumberField(forms.CharField):
    """A form field that cleans to E.164, with one error message wherever a number is typed."""

    default_error_messages = {"invalid": _("This is not a valid phone number.")}

    def __init__(self, *, autocomplete: str = "off", **kwargs) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"type": "tel", "autocomplete": autocomplete})
        )
        super().__init__(**kwargs)

    def clean(self, value: object) -> str:
        text = super().clean(value)
        if not text and not self.required:
            return text
        number = phone_to_e164(text)
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number


def mask_address(address: str) -> str:
    """A number or user id as staff without subject access see it: its first three and last two
    characters."""
    return address[:3] + "•" * max(len(address) - 5, 0) + address[-2:]
