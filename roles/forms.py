"""The staff login (password, then the authenticator's code when the account has one), the form
that checks a code on its own, and a staff member's notification preference."""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _

from comune.security import client_ip
from roles import selectors, services

logger = logging.getLogger("roles.login")

_CODE_WIDGET = forms.TextInput(
    attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 6}
)


class StaffLoginForm(AdminAuthenticationForm):
    otp_token = forms.CharField(
        label=_("Verification code"),
        required=False,
        widget=_CODE_WIDGET,
        help_text=_("The 6 digits your authenticator app shows, if you set one up."),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "otp_token": _("Enter the code your authenticator app shows now."),
    }

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if selectors.user_totp_device(user=user) is None:
            return
        token = self.cleaned_data.get("otp_token", "")
        device = services.totp_device_verify(user=user, token=token) if token else None
        if device is None:
            logger.warning(
                "Login refused: wrong second-factor code for username %r from %s",
                user.get_username(),
                client_ip(self.request) if self.request else "?",
            )
            raise forms.ValidationError(self.error_messages["otp_token"], code="otp_token")
        # django-otp's login receiver marks the session verified by this device.
        user.otp_device = device  # type: ignore[attr-defined]


class SecondFactorForm(forms.Form):
    otp_token = forms.CharField(label=_("Verification code"), widget=_CODE_WIDGET)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["otp_token"].widget.attrs["autofocus"] = True


class NotificationPreferenceForm(forms.Form):
    email = forms.BooleanField(
        label=_("Tell me by e-mail"),
        required=False,
        help_text=_(
            "Approvers: what waits for your approval. Authors: when your broadcast is approved, "
            "scheduled, sent, returned to draft or paused by a fault."
        ),
    )
