"""The subscriber admin's erasure page: a citizen asks for their number to be forgotten.

The number travels only in the POST body: never in a URL, a message or a log line.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from roles.models import ERASE_SUBSCRIBER
from subscribers.phones import phone_to_e164
from subscribers.retention import Erasure, subscriber_erase


class EraseForm(forms.Form):
    phone = forms.CharField(label=gettext_lazy("phone number"), max_length=32)
    reference = forms.CharField(
        label=gettext_lazy("reference of the request"),
        help_text=gettext_lazy("E.g. the protocol number of the citizen's request."),
        max_length=100,
        required=False,
    )
    confirm = forms.BooleanField(
        label=gettext_lazy(
            "I confirm: withdraw the consent if active, delete the messages and deliveries of "
            "this number and keep only a pseudonym in the consent log."
        )
    )

    def clean_phone(self) -> str:
        phone = phone_to_e164(self.cleaned_data["phone"])
        if phone is None:
            raise forms.ValidationError(_("This is not a valid phone number."))
        return phone


class SubscriberEraseMixin:
    """Adds /erase/ to the subscriber admin, for users with the erase permission."""

    def has_erase_permission(self, request: HttpRequest) -> bool:
        # Superusers hold every permission.
        return request.user.has_perm(ERASE_SUBSCRIBER)

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "erase/",
                self.admin_site.admin_view(self.erase_view),
                name=f"{opts.app_label}_{opts.model_name}_erase",
            ),
            *super().get_urls(),
        ]

    def erase_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_erase_permission(request):
            raise PermissionDenied
        form = EraseForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            erasure = subscriber_erase(
                phone=form.cleaned_data["phone"],
                actor=request.user,
                reference=form.cleaned_data["reference"],
            )
            messages.success(request, self._erasure_message(erasure))
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Erase a number"),
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/subscribers/subscriber/erase.html", context)

    @staticmethod
    def _erasure_message(erasure: Erasure) -> str:
        counts = {"inbound": erasure.inbound_deleted, "deliveries": erasure.deliveries_deleted}
        if erasure.subscriber_id is None:
            message = _("No subscriber had this number; %(inbound)s messages from it deleted.")
        elif erasure.consent_withdrawn:
            message = _(
                "Number erased: consent withdrawn, %(inbound)s messages and %(deliveries)s "
                "deliveries deleted; the consent log keeps a pseudonym."
            )
        else:
            message = _(
                "Number erased: %(inbound)s messages and %(deliveries)s deliveries deleted; the "
                "consent log keeps a pseudonym."
            )
        return message % counts
