"""The privacy officer's forms: which part of the consent log to export, and whose data."""

from __future__ import annotations

from typing import Any

import phonenumbers
from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from subscribers.models import ConsentRecord


class ConsentExportForm(forms.Form):
    FORMATS = [("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("json", "JSON")]

    occurred_from = forms.DateField(
        label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    occurred_to = forms.DateField(
        label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    action = forms.ChoiceField(
        label=_("action"),
        required=False,
        choices=[("", _("all")), *ConsentRecord.Action.choices],
    )
    channel = forms.ChoiceField(
        label=_("channel"),
        required=False,
        choices=[("", _("all")), *ConsentRecord.Channel.choices],
    )
    format = forms.ChoiceField(label=_("format"), choices=FORMATS, initial="csv")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("occurred_from"), cleaned.get("occurred_to")
        if start and end and start > end:
            raise forms.ValidationError(gettext("The start date is after the end date."))
        return cleaned


class SubjectAccessForm(forms.Form):
    phone = forms.CharField(
        label=_("phone number"),
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )

    def clean_phone(self) -> str:
        """The number in E.164; written without a country code it is read as the comune's."""
        raw = self.cleaned_data["phone"]
        try:
            number = phonenumbers.parse(raw, settings.PHONE_DEFAULT_REGION)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise forms.ValidationError(gettext("This is not a valid phone number."))
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
