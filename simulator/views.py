"""The simulator's page: routed only when settings.SIMULATOR_ENABLED (see comune/urls.py)."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from gateway.formatting import whatsapp_to_html
from public.subscribe import subscribe_keyword
from simulator import selectors, services
from simulator.forms import CitizenMessageForm

# The number being played lives in the session: it never appears in a URL.
SESSION_KEY = "simulator_phone"


@staff_member_required
@require_http_methods(["GET", "POST"])
def simulator(request: HttpRequest) -> HttpResponse:
    """GET shows the chat of the number being played; POST sends a message from it (or, with
    no text, only switches to that number), then redirects back."""
    phone = request.session.get(SESSION_KEY)
    if request.method == "POST":
        form = CitizenMessageForm(request.POST)
        if form.is_valid():
            request.session[SESSION_KEY] = form.cleaned_data["phone"]
            text = form.cleaned_data["text"].strip()
            if text:
                status = services.citizen_message_send(
                    phone=form.cleaned_data["phone"],
                    text=text,
                    host=request.get_host(),
                    secure=request.is_secure(),
                )
                if status != 200:
                    messages.error(
                        request, gettext("The webhook answered %(status)s.") % {"status": status}
                    )
            return redirect("simulator")
    else:
        form = CitizenMessageForm(initial={"phone": phone or ""})
    # Each message with its text formatted as WhatsApp shows it (*bold*, _italic_…).
    chat = [
        (message, whatsapp_to_html(message.body))
        for message in (selectors.chat_for(address=phone) if phone else [])
    ]
    context = {"form": form, "phone": phone, "chat": chat, "keyword": subscribe_keyword()}
    return render(request, "simulator/chat.html", context)
