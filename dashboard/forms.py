from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30


def period_label(days: int) -> str:
    """ "7 giorni": translated when shown, in the page's language."""
    return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}


class PeriodForm(forms.Form):
    """The chart's period, from the switch's links (?days=7|30|90)."""

    days = forms.TypedChoiceField(
        label=_("Period"), coerce=int, choices=[(days, days) for days in PERIODS]
    )
