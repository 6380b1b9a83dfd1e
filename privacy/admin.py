"""The privacy officer's pages in the admin: the consent log with its export and subject access,
and erasure on the subscriber admin. They hang on the subscribers app's admin classes (this app
comes after it in INSTALLED_APPS), so that the subscribers app never imports this one.

The number to erase travels only in the POST body: never in a URL, a message or a log line.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from privacy import views
from privacy.erasure import Erasure, subscriber_erase
from privacy.forms import EraseForm
from roles.models import ERASE_SUBSCRIBER
from roles.staff import staff_user
from subscribers import admin as subscribers_admin
from subscribers.models import ConsentRecord, Subscriber

admin.site.unregister(Subscriber)


@admin.register(Subscriber)
class SubscriberAdmin(subscribers_admin.SubscriberAdmin):
    """The subscriber admin with /erase/, for users with the erase permission."""

    def has_erase_permission(self, request: HttpRequest) -> bool:
        # Superusers hold every permission.
        return request.user.has_perm(ERASE_SUBSCRIBER)

    def get_urls(self) -> list[URLPattern]:
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
                actor=staff_user(request),
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


@admin.register(ConsentRecord)
class ConsentRecordAdmin(subscribers_admin.ReadOnlyAdmin):
    """The consent log, read-only, with the privacy officer's export and subject access."""

    list_display = ["occurred_at", "subscriber", "action", "channel", "notice", "recorded_at"]
    list_filter = ["action", "channel", "notice"]
    date_hierarchy = "occurred_at"
    list_select_related = ["subscriber", "notice"]
    change_list_template = "admin/subscribers/consentrecord/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path("export/", wrap(self.export_view), name="subscribers_consentrecord_export"),
            path(
                "subject-access/",
                wrap(self.subject_access_view),
                name="subscribers_consentrecord_subject_access",
            ),
            *super().get_urls(),
        ]

    def _page_context(self, request: HttpRequest, title: str) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title}

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        context = self._page_context(request, gettext("Export the consent log"))
        return views.consent_export(request, context)

    def subject_access_view(self, request: HttpRequest) -> HttpResponseBase:
        context = self._page_context(request, gettext("Subject access"))
        return views.subject_access(request, context)
