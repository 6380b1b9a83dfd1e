import phonenumbers
from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class CitizenMessageForm(forms.Form):
    phone = forms.CharField(
        label=_("Citizen's number"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )
    text = forms.CharField(label=_("Message"), max_length=1000, required=False)

    def clean_phone(self) -> str:
        """E.164, read as the configured region's when written without a country code."""
        try:
            number = phonenumbers.parse(self.cleaned_data["phone"], settings.PHONE_DEFAULT_REGION)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise forms.ValidationError(gettext("This is not a valid phone number."))
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
