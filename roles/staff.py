"""The staff member behind a request to the admin's pages."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def staff_user(request: HttpRequest) -> User:
    """The signed-in user of an admin request. The admin lets only staff in, so this is a
    check, not a filter: a request without a user is refused rather than acted on."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
