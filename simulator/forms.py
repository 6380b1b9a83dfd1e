from django import forms
from django.utils.translation import gettext_lazy as _

from subscribers.phones import PhoneNumberField


class CitizenMessageForm(forms.Form):
    phone = PhoneNumberField(label=_("Citizen's number"), autocomplete="off")
    text = forms.CharField(label=_("Message"), max_length=1000, required=False)
