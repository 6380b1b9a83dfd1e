"""The staff member's own pages: the second factor (set up an authenticator app, or type its
code) and whether notifications come by e-mail."""

from __future__ import annotations

from base64 import b32encode

import segno
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login

from roles import selectors, services
from roles.forms import NotificationPreferenceForm, SecondFactorForm
from roles.staff import staff_user


@never_cache
@staff_member_required
def second_factor(request: HttpRequest) -> HttpResponse:
    """With an authenticator already set up, its code verifies this session. Without one, a
    new secret is shown once (QR code and text) and the first code typed confirms it."""
    user = staff_user(request)
    enrolled = selectors.user_totp_device(user=user) is not None
    form = SecondFactorForm(request.POST or None)
    if form.is_valid():
        token = form.cleaned_data["otp_token"]
        if enrolled:
            device = services.totp_device_verify(user=user, token=token)
        else:
            device = services.totp_device_confirm(user=user, token=token)
        if device is not None:
            otp_login(request, device)
            return HttpResponseRedirect(_next_url(request))
        form.add_error("otp_token", _("This code is wrong or has expired: type the current one."))
    context = {
        **admin.site.each_context(request),
        "title": _("Second factor"),
        "form": form,
        "enrolled": enrolled,
        "next": _next_url(request),
    }
    if not enrolled:
        # A first visit starts a new secret; a wrong code keeps the one on the page.
        device = (
            services.totp_device_start(user=user)
            if request.method == "GET"
            else selectors.user_totp_device_pending(user=user)
        )
        if device is not None:
            qr = segno.make(device.config_url, error="m").svg_inline(
                scale=4,
                border=2,
                light="#fff",
                title=_("QR code for your authenticator app"),
                svgclass="qr",
            )
            context["qr_svg"] = mark_safe(qr)  # noqa: S308 - segno's markup, its title escaped
            context["secret"] = b32encode(device.bin_key).decode()
    return render(request, "roles/second_factor.html", context)


@never_cache
@staff_member_required
def notifications(request: HttpRequest) -> HttpResponse:
    """E-mail notifications on or off, for the signed-in staff member."""
    user = staff_user(request)
    if request.method == "POST":
        form = NotificationPreferenceForm(request.POST)
        if form.is_valid():
            services.notification_preference_set(user=user, email=form.cleaned_data["email"])
            messages.success(request, _("Your notification preference is saved."))
            return HttpResponseRedirect(reverse("staff-notifications"))
    else:
        form = NotificationPreferenceForm(initial={"email": selectors.user_wants_email(user=user)})
    context = {
        **admin.site.each_context(request),
        "title": _("Notifications"),
        "form": form,
        "email_address": user.email,
    }
    return render(request, "roles/notifications.html", context)


def _next_url(request: HttpRequest) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return reverse("admin:index")
