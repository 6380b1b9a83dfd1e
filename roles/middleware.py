"""Administrators, the privacy officer and superusers reach the staff pages only once their
session is verified by their authenticator."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from roles.selectors import user_second_factor_required


class SecondFactorRequiredMiddleware:
    """After django_otp's OTPMiddleware: an unverified session of an account that needs a
    second factor is sent to set one up, or to type its code."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()  # type: ignore[attr-defined]
            and self._protected(request.path)
            and user_second_factor_required(user=user)
        ):
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('second-factor')}?{query}")
        return self.get_response(request)

    @staticmethod
    def _protected(path: str) -> bool:
        open_paths = {reverse("second-factor"), reverse("admin:login"), reverse("admin:logout")}
        staff_areas = [reverse("admin:index")]
        if settings.SIMULATOR_ENABLED:
            staff_areas.append(reverse("simulator"))
        return path not in open_paths and path.startswith(tuple(staff_areas))
