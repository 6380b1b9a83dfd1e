"""The citizens' pages: read-only, anonymous, in the comune's language."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext

from broadcasts.selectors import broadcast_public_archive
from gateway.formatting import whatsapp_to_html
from public import selectors, subscribe
from subscribers.selectors import subscriber_active_list

ARCHIVE_PAGE_SIZE = 10


def how_to_subscribe(request: HttpRequest) -> HttpResponse:
    """The number, a link that opens WhatsApp with the keyword typed, and its QR code."""
    number = settings.COMUNE_WHATSAPP_NUMBER
    keyword = subscribe.subscribe_keyword()
    link = subscribe.subscribe_link(number=number, keyword=keyword)
    context = {
        "number": subscribe.number_display(number),
        "keyword": keyword,
        "unsubscribe_keyword": subscribe.unsubscribe_keyword(),
        "subscribe_link": link,
        "qr_svg": subscribe.qr_svg(link, title=gettext("QR code that opens WhatsApp to subscribe")),
        "subscriber_count": subscriber_active_list().count(),
        "latest": broadcast_public_archive()[:3],
    }
    return render(request, "public/how_to_subscribe.html", context)


def regulation(request: HttpRequest) -> HttpResponse:
    current = selectors.regulation_current()
    if current is None:
        raise Http404("No regulation has been published yet.")
    return render(request, "public/regulation.html", {"regulation": current})


def archive(request: HttpRequest) -> HttpResponse:
    """Public broadcasts already sent, newest first, a page at a time."""
    page = Paginator(broadcast_public_archive(), ARCHIVE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "public/archive.html", {"page": page})


def archive_detail(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = get_object_or_404(broadcast_public_archive(), pk=pk)
    text = whatsapp_to_html(selectors.broadcast_public_text(broadcast=broadcast))
    return render(request, "public/archive_detail.html", {"broadcast": broadcast, "text": text})
