from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
_LAST_DAYS = ngettext_lazy("last %(days)d day", "last %(days)d days", "days")


class PeriodForm(forms.Form):
    days = forms.TypedChoiceField(
        label=_("Period"),
        coerce=int,
        choices=[(days, _LAST_DAYS % {"days": days}) for days in PERIODS],
        initial=DEFAULT_PERIOD,
    )
