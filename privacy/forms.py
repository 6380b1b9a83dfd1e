"""The privacy officer's forms: which part of the consent log to export, whose data, and which
number to erase."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from subscribers.models import ConsentRecord
from subscribers.phones import PhoneNumberField, phone_to_e164


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
        super().clean()
        cleaned = self.cleaned_data
        start, end = cleaned.get("occurred_from"), cleaned.get("occurred_to")
        if start and end and start > end:
            raise forms.ValidationError(gettext("The start date is after the end date."))
        return cleaned


class SubjectAccessForm(forms.Form):
    phone = PhoneNumberField(label=_("phone number"), autocomplete="off")


class EraseForm(forms.Form):
    phone = forms.CharField(label=_("phone number"), max_length=32)
    reference = forms.CharField(
        label=_("reference of the request"),
        help_text=_("E.g. the protocol number of the citizen's request."),
        max_length=100,
        required=False,
    )
    confirm = forms.BooleanField(
        label=_(
            "I confirm: withdraw the consent if active, delete the messages and deliveries of "
            "this number and keep only a pseudonym in the consent log."
        )
    )

    def clean_phone(self) -> str:
        phone = phone_to_e164(self.cleaned_data["phone"])
        if phone is None:
            raise forms.ValidationError(gettext("This is not a valid phone number."))
        return phone
