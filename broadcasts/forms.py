"""Forms staff fill in the admin: a broadcast, and the small forms of its lifecycle buttons."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from broadcasts.models import Broadcast, BroadcastSeries, StaffTestNumber
from broadcasts.selectors import quiet_hours_label
from gateway.formatting import (
    TEMPLATE_PARAMETER_MAX_LENGTH,
    TEXT_BODY_MAX_LENGTH,
    template_placeholder_count,
    whatsapp_to_html,
)
from subscribers.phones import PhoneNumberField

# Meta refuses (error 132018) a parameter with a newline, a tab or more than 4 spaces in a row.
MAX_CONSECUTIVE_SPACES = 4


class WhatsAppPreviewTextarea(forms.Textarea):
    """A textarea followed by a WhatsApp-like bubble and a character count, which
    broadcasts/preview.js keeps up to date as staff type. The first render comes from the server,
    so the preview is right before any script runs."""

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(
            {
                "rows": 8,
                "class": "vLargeTextField",
                "data-wa-preview": "body",
                "data-wa-limit": TEXT_BODY_MAX_LENGTH,
                **(attrs or {}),
            }
        )

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer=None) -> SafeString:
        textarea = super().render(name, value, attrs, renderer)
        text = _normalise_newlines(value or "")
        return format_html(
            '<div class="wa-editor">{}'
            '<div class="wa-preview" aria-live="polite">'
            '<div class="wa-preview-label">{}</div>'
            '<div class="wa-bubble" data-wa-bubble="body">{}</div>'
            '<div class="wa-count{}" data-wa-count="body">'
            "<span data-wa-length>{}</span> / {} {}</div>"
            '<div class="wa-preview-label wa-template-label" hidden>{}</div>'
            '<div class="wa-bubble" data-wa-bubble="template" hidden></div>'
            "</div></div>",
            textarea,
            gettext("Preview"),
            whatsapp_to_html(text),
            " wa-over" if len(text) > TEXT_BODY_MAX_LENGTH else "",
            len(text),
            TEXT_BODY_MAX_LENGTH,
            gettext("characters"),
            gettext("As a template message (outside the 24-hour window)"),
        )


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class TemplateParametersField(forms.Field):
    """The template's body parameters, one per line, as a list (a plain Field: a CharField's
    value would be a string)."""

    widget = forms.Textarea

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.widget.attrs.update(
            {"rows": 4, "data-wa-parameters": "", "data-wa-limit": TEMPLATE_PARAMETER_MAX_LENGTH}
        )

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        text = _normalise_newlines(value or "").rstrip("\n")
        if not text.strip():
            return []
        return [line.strip(" ") for line in text.split("\n")]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial) != self.to_python(data)


def template_parameter_errors(parameters: list[str]) -> list[str]:
    """What Meta would refuse in these parameters, each error naming the parameter's number."""
    errors = []
    for number, value in enumerate(parameters, start=1):
        if not value:
            errors.append(gettext("Parameter %(number)s is empty.") % {"number": number})
        elif "\t" in value or "\n" in value:
            errors.append(
                gettext("Parameter %(number)s contains a tab or a new line.") % {"number": number}
            )
        elif " " * (MAX_CONSECUTIVE_SPACES + 1) in value:
            errors.append(
                gettext("Parameter %(number)s has more than %(spaces)s spaces in a row.")
                % {"number": number, "spaces": MAX_CONSECUTIVE_SPACES}
            )
        if len(value) > TEMPLATE_PARAMETER_MAX_LENGTH:
            errors.append(
                gettext("Parameter %(number)s is %(length)s characters long: at most %(max)s.")
                % {"number": number, "length": len(value), "max": TEMPLATE_PARAMETER_MAX_LENGTH}
            )
    return errors


def _formfield(db_field: models.Field, **kwargs: Any) -> forms.Field | None:
    # A link typed without a scheme is https (Django 6's default, said now).
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class BroadcastForm(forms.ModelForm):
    template_parameters = TemplateParametersField(
        label=_("template parameters"),
        required=False,
        help_text=_("One per line: the first line fills {{1}}, the second {{2}}, and so on."),
    )

    class Meta:
        model = Broadcast
        formfield_callback = _formfield
        fields = [
            "title",
            "body",
            "category",
            "template",
            "template_parameters",
            "media_url",
            "is_public",
            "scheduled_at",
        ]
        widgets = {"body": WhatsAppPreviewTextarea}
        help_texts = {
            "body": _(
                "What citizens read inside their 24-hour window. WhatsApp formatting: *bold*, "
                "_italic_, ~strikethrough~, ```monospace```."
            ),
            "template": _("Required to reach citizens who have not written in the last 24 hours."),
            "category": _(
                "An emergency goes out at once, during quiet hours too, ahead of every other "
                "broadcast; the others wait out the quiet hours."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "scheduled_at" in self.fields:  # the admin leaves read-only fields out
            self.fields["scheduled_at"].help_text = _scheduled_help(
                gettext("Leave empty to send as soon as the broadcast is approved.")
            )
            # The admin splits it in two inputs, labelled only by loose text: name each one.
            widget = self.fields["scheduled_at"].widget
            if isinstance(widget, forms.MultiWidget):
                names = (gettext("Send at: date"), gettext("Send at: time"))
                for part, name in zip(widget.widgets, names, strict=True):
                    part.attrs["aria-label"] = name

    def clean_body(self) -> str:
        body = _normalise_newlines(self.cleaned_data.get("body") or "")
        if len(body) > TEXT_BODY_MAX_LENGTH:
            raise forms.ValidationError(
                gettext("The text is %(length)s characters long: WhatsApp allows %(max)s.")
                % {"length": len(body), "max": TEXT_BODY_MAX_LENGTH}
            )
        return body

    def clean_template(self):
        template = self.cleaned_data.get("template")
        if template is not None and not template.is_approved:
            raise forms.ValidationError(
                gettext("Template %(template)s is not approved by Meta (status: %(status)s).")
                % {"template": template, "status": template.status or "?"}
            )
        return template

    def clean_scheduled_at(self):
        scheduled_at = self.cleaned_data.get("scheduled_at")
        if scheduled_at is not None and scheduled_at < timezone.now():
            raise forms.ValidationError(gettext("This time is in the past."))
        return scheduled_at

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        template = cleaned.get("template")
        parameters = cleaned.get("template_parameters") or []
        if "template" in self.errors:
            return cleaned
        if template is None:
            if not cleaned.get("body") and "body" not in self.errors:
                self.add_error("body", gettext("Write the text, or choose a template."))
            if parameters:
                self.add_error(
                    "template_parameters", gettext("Parameters need a template: choose one.")
                )
            return cleaned
        expected = template_placeholder_count(template.body)
        if len(parameters) != expected:
            self.add_error(
                "template_parameters",
                gettext("Template %(template)s needs %(expected)s parameters, not %(given)s.")
                % {"template": template, "expected": expected, "given": len(parameters)},
            )
        for error in template_parameter_errors(parameters):
            self.add_error("template_parameters", error)
        return cleaned


class BroadcastSeriesForm(BroadcastForm):
    """A recurring broadcast: the broadcast's content and checks, and when it repeats."""

    class Meta:
        model = BroadcastSeries
        formfield_callback = _formfield
        fields = [
            "title",
            "body",
            "category",
            "template",
            "template_parameters",
            "media_url",
            "is_public",
            "frequency",
            "interval",
            "starts_at",
            "ends_on",
        ]
        widgets = {"body": WhatsAppPreviewTextarea}
        help_texts = {
            "body": BroadcastForm.Meta.help_texts["body"],
            "template": BroadcastForm.Meta.help_texts["template"],
            "category": _("An emergency is never a recurring broadcast: send it when it happens."),
            "ends_on": _("Empty: until the series is ended."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "starts_at" in self.fields:
            self.fields["starts_at"].help_text = _scheduled_help(
                gettext("The day and time of the first one; the others follow at the same time.")
            )

    def clean_starts_at(self):
        starts_at = self.cleaned_data.get("starts_at")
        if (
            starts_at is not None
            and starts_at < timezone.now()
            and "starts_at" in self.changed_data
        ):
            raise forms.ValidationError(gettext("This time is in the past."))
        return starts_at

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        starts_at, ends_on = cleaned.get("starts_at"), cleaned.get("ends_on")
        if starts_at and ends_on and ends_on < timezone.localtime(starts_at).date():
            self.add_error("ends_on", gettext("The last day comes before the first sending."))
        return cleaned


def _scheduled_help(text: str) -> str:
    """A "send at" field's help, with the quiet hours when there are some."""
    quiet = quiet_hours_label()
    if not quiet:
        return text
    return gettext(
        "%(text)s Quiet hours %(quiet)s: a broadcast due within them starts when they end "
        "(an emergency at once)."
    ) % {"text": text, "quiet": quiet}


class AudienceForm(forms.Form):
    """Who an approval reaches: everyone (the template outside their window), or, stated, only
    the citizens inside their 24-hour window."""

    audience = forms.ChoiceField(
        label=_("recipients"),
        choices=Broadcast.Audience.choices,
        initial=Broadcast.Audience.ALL,
        required=False,
        widget=forms.RadioSelect,
    )

    def clean_audience(self) -> str:
        return self.cleaned_data.get("audience") or Broadcast.Audience.ALL


class ApproveForm(AudienceForm):
    scheduled_at = forms.DateTimeField(
        label=_("send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scheduled_at"].help_text = _scheduled_help(
            gettext("Empty: as soon as it is approved.")
        )

    def clean_scheduled_at(self):
        scheduled_at = self.cleaned_data.get("scheduled_at")
        if scheduled_at is not None and scheduled_at < timezone.now():
            raise forms.ValidationError(gettext("This time is in the past."))
        return scheduled_at


class RescheduleForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label=_("new time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scheduled_at"].help_text = _scheduled_help("").strip()

    def clean_scheduled_at(self):
        scheduled_at = self.cleaned_data["scheduled_at"]
        if scheduled_at <= timezone.now():
            raise forms.ValidationError(gettext("This time is in the past."))
        return scheduled_at


class CalendarForm(forms.Form):
    """Which page of the calendar: a month or a week, around a day (today by default)."""

    MONTH, WEEK = "month", "week"

    view = forms.ChoiceField(choices=[(MONTH, _("month")), (WEEK, _("week"))], required=False)
    date = forms.DateField(required=False, input_formats=["%Y-%m-%d"])

    def clean_view(self) -> str:
        return self.cleaned_data.get("view") or self.MONTH

    def clean_date(self):
        return self.cleaned_data.get("date") or timezone.localdate()


class NoteForm(forms.Form):
    note = forms.CharField(label=_("note"), max_length=500, required=False)


class PauseForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=500, required=False)


class TestSendForm(forms.Form):
    test_number = forms.ModelChoiceField(
        label=_("staff test number"),
        queryset=StaffTestNumber.objects.all(),
        empty_label=None,
        help_text=_("An Administrator lists the staff's test numbers in the admin."),
    )


class StaffTestNumberForm(forms.ModelForm):
    phone = PhoneNumberField(label=_("phone number"), autocomplete="tel")

    class Meta:
        model = StaffTestNumber
        fields = ["label", "phone"]
