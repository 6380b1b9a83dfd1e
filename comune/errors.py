"""The pages a citizen or a staff member meets when something goes wrong: Italian, with the
comune's frame and a way back to where they came from (the admin's index or the home page)."""

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


def _page(request: HttpRequest | None, *, status: int, title: str, explanation: str) -> str:
    in_admin = request is not None and request.path.startswith(reverse("admin:index"))
    context = {
        "COMUNE_NAME": settings.COMUNE_NAME,
        "status": status,
        "title": title,
        "explanation": explanation,
        "back_url": reverse("admin:index") if in_admin else reverse("public-home"),
        "back_label": _("Back to the administration") if in_admin else _("Back to the home page"),
    }
    # No request for a 500: its context processors may need what just failed (the database).
    return render_to_string("error.html", context, request=request if status != 500 else None)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    explanation = _("The request could not be understood. Check the address and try again.")
    html = _page(request, status=400, title=_("Invalid request"), explanation=explanation)
    return HttpResponse(html, status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    explanation = _(
        "Your account is not allowed to see this page or do this. If you need to, ask an "
        "Administrator of the service."
    )
    html = _page(request, status=403, title=_("Access not allowed"), explanation=explanation)
    return HttpResponse(html, status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    # Usually a form left open past the session, or opened in another tab before logging in.
    explanation = _(
        "The form has expired or was opened before you logged in. Go back, reload the page "
        "and send it again: nothing was saved."
    )
    html = _page(request, status=403, title=_("The form has expired"), explanation=explanation)
    return HttpResponse(html, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    explanation = _("There is no page at this address: it may have been moved or removed.")
    html = _page(request, status=404, title=_("Page not found"), explanation=explanation)
    return HttpResponse(html, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    explanation = _(
        "Something went wrong on our side and the page could not be shown. Nothing you sent "
        "was lost halfway; try again in a few minutes."
    )
    try:
        html = _page(request, status=500, title=_("Service error"), explanation=explanation)
    except Exception:  # the frame itself failed: a page must still be answered
        logger.exception("The error page could not be rendered")
        html = "<!doctype html><title>Errore</title><p>Errore del servizio: riprova più tardi.</p>"
    return HttpResponse(html, status=500)
