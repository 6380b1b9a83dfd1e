"""The privacy officer's forms: which part of the consent log to export, and whose data."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from subscribers.models import ConsentRecord
from subscribers.phones import PhoneNumberField


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
    phone = PhoneNumberField(label=_("phone number"), autocomplete="off")
