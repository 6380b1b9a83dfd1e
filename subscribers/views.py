from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from subscribers import selectors
from subscribers.models import PrivacyNotice


def privacy_notice(request: HttpRequest, version: str | None = None) -> HttpResponse:
    """The current privacy notice (or an earlier version), with links to every version."""
    if version is None:
        notice = selectors.privacy_notice_current()
        if notice is None:
            raise Http404("No privacy notice has been published yet.")
    elif "\x00" in version:  # no version holds one, and PostgreSQL refuses it in a query
        raise Http404("No privacy notice has this version.")
    else:
        notice = get_object_or_404(PrivacyNotice, version=version)
    return render(
        request,
        "public/privacy_notice.html",
        {"notice": notice, "versions": PrivacyNotice.objects.all()},
    )
