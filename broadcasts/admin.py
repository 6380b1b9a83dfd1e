"""The staff side of broadcasts: write, approve, follow and report, in the Django admin.

Only a draft can be edited; every later step is a button that calls one service
(broadcasts/views.py). Templates are read-only here: they come from Meta.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from broadcasts import lifecycle, selectors, views
from broadcasts.forms import (
    ApproveForm,
    BroadcastForm,
    BroadcastSeriesForm,
    RescheduleForm,
    StaffTestNumberForm,
    TestSendForm,
)
from broadcasts.models import Broadcast, BroadcastSeries, MessageTemplate, StaffTestNumber
from broadcasts.services.authoring import broadcast_create, broadcast_update_draft
from broadcasts.services.series import SeriesRefused, series_create, series_update_draft
from gateway.formatting import (
    TEMPLATE_PARAMETER_MAX_LENGTH,
    TEXT_BODY_MAX_LENGTH,
    template_fill,
    whatsapp_to_html,
)
from roles.staff import staff_user
from subscribers.phones import mask_address

Status = Broadcast.Status
EDITABLE_FIELDS = BroadcastForm.Meta.fields
FAILED_SHOWN = 50
# Who moved the broadcast along and when: shown, never edited.
LIFECYCLE_FIELDS = [
    "status",
    "created_by",
    "created_at",
    "approved_by",
    "approved_at",
    "started_at",
    "finished_at",
]


def _bubble(html: SafeString) -> SafeString:
    return format_html('<div class="wa-bubble">{}</div>', html)


class FunnelChangeList(ChangeList):
    """The changelist's page of broadcasts, each with its delivery funnel, in one query."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        queryset = super().get_queryset(request, exclude_parameters)
        return selectors.broadcast_annotate_funnel(queryset)


def _become(obj: Broadcast | BroadcastSeries, created: Broadcast | BroadcastSeries) -> None:
    """The admin's unsaved object takes on the row a service created, so that the admin's
    redirect and log entry point at it."""
    obj.pk, obj.created_by, obj.created_at = created.pk, created.created_by, created.created_at
    obj._state.adding, obj._state.db = False, created._state.db


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    form = BroadcastForm
    list_display = [
        "title",
        "category",
        "priority",
        "status",
        "scheduled_at",
        "created_by",
        "funnel",
    ]
    list_filter = ["status", "category", "priority"]
    list_select_related = ["created_by"]
    search_fields = ["title"]
    date_hierarchy = "created_at"
    change_form_template = "admin/broadcasts/broadcast/change_form.html"
    change_list_template = "admin/broadcasts/broadcast/change_list.html"
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    class Media:
        css = {"all": ["broadcasts/broadcasts.css"]}
        js = ["broadcasts/preview.js", "broadcasts/status.js", "broadcasts/reach.js"]

    # --- The list ---

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return FunnelChangeList

    @admin.display(description=_("sent › delivered › read · failed"))
    def funnel(self, obj: Broadcast) -> str:
        sent = getattr(obj, "funnel_sent", 0)
        failed = getattr(obj, "funnel_failed", 0)
        if not sent and not failed:
            return "—"
        return format_html(
            '<span class="wa-funnel">{} › {} › {} · <span class="wa-failed">{}</span></span>',
            sent,
            getattr(obj, "funnel_delivered", 0),
            getattr(obj, "funnel_read", 0),
            failed,
        )

    def get_actions(self, request: HttpRequest) -> dict:
        # Deleting in bulk would take sent broadcasts and their delivery log with it.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- The form: editable while a draft, read-only afterwards ---

    def _is_draft(self, obj: Broadcast | None) -> bool:
        return obj is None or obj.status == Status.DRAFT

    def get_fieldsets(self, request: HttpRequest, obj: Broadcast | None = None) -> list:
        template_title = _("Template (outside the citizen's 24-hour window)")
        if self._is_draft(obj):
            fieldsets = [
                (None, {"fields": ["title", "body", "category"]}),
                (template_title, {"fields": ["template", "template_parameters"]}),
                (None, {"fields": ["media_url", "is_public", "scheduled_at"]}),
            ]
            if obj is not None:
                fieldsets.append(
                    (_("Status"), {"fields": ["status", "priority", "created_by", "created_at"]})
                )
            return fieldsets
        return [
            (None, {"fields": ["title", "message_preview", "category", "priority"]}),
            (template_title, {"fields": ["template", "template_preview", "parameters_display"]}),
            (None, {"fields": ["media_url", "is_public", "scheduled_at"]}),
            (_("Status"), {"fields": LIFECYCLE_FIELDS}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Broadcast | None = None) -> list:
        if obj is None:
            return []
        if obj.status == Status.DRAFT:
            return ["status", "priority", "created_by", "created_at"]
        return [
            *EDITABLE_FIELDS,
            "priority",
            "message_preview",
            "template_preview",
            "parameters_display",
            *LIFECYCLE_FIELDS,
        ]

    @admin.display(description=_("text"))
    def message_preview(self, obj: Broadcast) -> SafeString | str:
        return _bubble(whatsapp_to_html(obj.body)) if obj.body else "—"

    @admin.display(description=_("as a template message"))
    def template_preview(self, obj: Broadcast) -> SafeString | str:
        if obj.template is None:
            return "—"
        filled = template_fill(obj.template.body, list(obj.template_parameters))
        return _bubble(whatsapp_to_html(filled))

    @admin.display(description=_("template parameters"))
    def parameters_display(self, obj: Broadcast) -> SafeString | str:
        if not obj.template_parameters:
            return "—"
        items = format_html_join(
            "", "<li><code>{{{{{}}}}}</code> {}</li>", enumerate(obj.template_parameters, 1)
        )
        return format_html('<ol class="wa-parameters">{}</ol>', items)

    def has_delete_permission(self, request: HttpRequest, obj: Broadcast | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._is_draft(obj)

    def save_model(self, request: HttpRequest, obj: Broadcast, form, change: bool) -> None:
        values = {name: getattr(obj, name) for name in EDITABLE_FIELDS}
        if not change:
            _become(obj, broadcast_create(author=staff_user(request), **values))
            return
        changed = {name: values[name] for name in form.changed_data if name in values}
        if not broadcast_update_draft(broadcast=obj, actor=staff_user(request), changes=changed):
            messages.warning(
                request, gettext("The broadcast is no longer a draft: your changes were not saved.")
            )

    # --- The change page: lifecycle, progress, failures, history ---

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if obj is not None and obj.status != Status.DRAFT and request.method == "POST":
            messages.error(request, gettext("Only a draft can be changed."))
            return HttpResponseRedirect(views.change_url(obj))
        context = {**self._editor_context(), **(extra_context or {})}
        if obj is None or obj.status in (Status.DRAFT, Status.AWAITING_APPROVAL):
            # Who it would reach if approved now: shown, and kept live, while it can change.
            context["reach"] = views.reach_data(obj.template if obj is not None else None)
            context["reach_url"] = reverse("admin:broadcasts_broadcast_reach")
            context["reach_template"] = obj.template_id if obj is not None else ""
            context["reach_editable"] = obj is None or obj.status == Status.DRAFT
        if obj is not None:
            context.update(self._change_page_context(request, obj))
        return super().changeform_view(request, object_id, form_url, context)

    def _editor_context(self) -> dict:
        templates = MessageTemplate.objects.only("pk", "body", "status")
        return {
            "template_bodies": {
                str(t.pk): {"body": t.body, "approved": t.is_approved} for t in templates
            },
            "text_limit": TEXT_BODY_MAX_LENGTH,
            "parameter_limit": TEMPLATE_PARAMETER_MAX_LENGTH,
        }

    def _change_page_context(self, request: HttpRequest, obj: Broadcast) -> dict:
        user = staff_user(request)
        context: dict[str, Any] = {
            "lifecycle_actions": [
                {
                    "action": button,
                    "url": self._url("lifecycle", obj, button.name),
                    "form": self._button_form(button, obj),
                }
                for button in views.lifecycle_buttons_for(user, obj)
            ],
            "events": [
                {"label": event.get_action_display(), "event": event}
                for event in obj.events.select_related("actor")
            ],
            "progress_url": self._url("progress", obj),
        }
        if views.may_duplicate(user):
            context["duplicate_url"] = self._url("duplicate", obj)
        if obj.series is not None:
            context["series_url"] = views.series_change_url(obj.series)
        context.update(self._timing_context(obj))
        rows_visible = selectors.recipient_rows_visible(user=user)
        if rows_visible:
            context["report_url"] = self._url("report", obj)
        if views.may_send_test(user, obj):
            context["send_test_url"] = self._url("send_test", obj)
            context["send_test_form"] = TestSendForm(auto_id="id_send_test_%s")
        returned = selectors.broadcast_returned(broadcast=obj)
        if returned is not None:
            context["returned"] = returned
        if obj.status == Status.AWAITING_APPROVAL:
            hint = lifecycle.four_eyes_refusal(user, obj)
            if hint:
                context["approval_hint"] = hint
        if obj.status not in (Status.DRAFT, Status.AWAITING_APPROVAL):
            counts = selectors.broadcast_delivery_counts(broadcast_id=obj.pk)
            context["counts"] = counts
            if rows_visible:
                failed = list(
                    selectors.broadcast_failed_deliveries(broadcast_id=obj.pk)[:FAILED_SHOWN]
                )
                context.update(
                    failed_deliveries=failed, failed_not_shown=max(counts.failed - len(failed), 0)
                )
        if obj.status != Status.DRAFT:
            context.update(
                show_save=False, show_save_and_continue=False, show_save_and_add_another=False
            )
        return context

    def _timing_context(self, obj: Broadcast) -> dict:
        """When an approved broadcast will start (said until it does) and, before it starts,
        the quiet hours it waits out (none for an emergency)."""
        context: dict[str, Any] = {}
        if obj.status not in (Status.DRAFT, Status.AWAITING_APPROVAL, Status.APPROVED):
            return context
        if not obj.is_emergency:
            context["quiet_hours"] = selectors.quiet_hours_label()
        now = timezone.now()
        if obj.status == Status.APPROVED:
            starts_at = selectors.broadcast_sending_starts_at(broadcast=obj, now=now)
            if starts_at > now:
                context["starts"] = selectors.start_phrase(starts_at, now=now)
        return context

    def _button_form(self, button: views.LifecycleButton, obj: Broadcast):
        if button.form_class is None:
            return None
        initial = (
            {"scheduled_at": obj.scheduled_at}
            if button.form_class in (ApproveForm, RescheduleForm)
            else {}
        )
        return button.form_class(initial=initial, auto_id=f"id_{button.name}_%s")

    def _url(self, name: str, obj: Broadcast, *args: str) -> str:
        return reverse(f"admin:broadcasts_broadcast_{name}", args=[obj.pk, *args])

    # --- Staff-only URLs under the broadcast's admin ---

    def get_urls(self) -> list[URLPattern]:
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path("reach/", wrap(self.reach_view), name="broadcasts_broadcast_reach"),
            path("calendar/", wrap(self.calendar_view), name="broadcasts_broadcast_calendar"),
            path(
                "<path:object_id>/lifecycle/<slug:action>/",
                wrap(self.lifecycle_view),
                name="broadcasts_broadcast_lifecycle",
            ),
            path(
                "<path:object_id>/duplicate/",
                wrap(self.duplicate_view),
                name="broadcasts_broadcast_duplicate",
            ),
            path(
                "<path:object_id>/send-test/",
                wrap(self.send_test_view),
                name="broadcasts_broadcast_send_test",
            ),
            path(
                "<path:object_id>/progress/",
                wrap(self.progress_view),
                name="broadcasts_broadcast_progress",
            ),
            path(
                "<path:object_id>/report.csv",
                wrap(self.report_view),
                name="broadcasts_broadcast_report",
            ),
            *super().get_urls(),
        ]

    def _get_viewable(self, request: HttpRequest, object_id: str) -> Broadcast:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(gettext("No such broadcast."))
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def lifecycle_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self._get_viewable(request, object_id)
        # The calendar's buttons come back to the calendar's page they were pressed on.
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = views.change_url(obj)
        return views.broadcast_lifecycle(request, obj, action, back)

    def duplicate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return views.broadcast_duplicate_view(request, self._get_viewable(request, object_id))

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self._get_viewable(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": gettext("Send a test"),
        }
        return views.broadcast_send_test(request, obj, context, views.change_url(obj))

    def calendar_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.opts}
        return views.broadcast_calendar(request, context)

    def reach_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return views.broadcast_reach(request)

    def progress_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return views.broadcast_progress(request, self._get_viewable(request, object_id))

    def report_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        broadcast = self._get_viewable(request, object_id)
        if not selectors.recipient_rows_visible(user=staff_user(request)):
            raise PermissionDenied
        return views.broadcast_delivery_report(request, broadcast)


SERIES_EDITABLE_FIELDS = BroadcastSeriesForm.Meta.fields
SERIES_LIFECYCLE_FIELDS = ["status", "created_by", "created_at", "approved_by", "approved_at"]
NEXT_OCCURRENCES_SHOWN = 5


@admin.register(BroadcastSeries)
class BroadcastSeriesAdmin(admin.ModelAdmin):
    """Recurring broadcasts: written as a draft, approved once, then locked; each occurrence
    becomes a broadcast of its own (broadcasts.services.series)."""

    form = BroadcastSeriesForm
    list_display = ["title", "category", "frequency", "starts_at", "ends_on", "status"]
    list_filter = ["status", "category", "frequency"]
    list_select_related = ["created_by"]
    search_fields = ["title"]
    change_form_template = "admin/broadcasts/broadcastseries/change_form.html"
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    class Media:
        css = {"all": ["broadcasts/broadcasts.css"]}
        js = ["broadcasts/preview.js", "broadcasts/status.js"]

    def _is_draft(self, obj: BroadcastSeries | None) -> bool:
        return obj is None or obj.status == BroadcastSeries.Status.DRAFT

    def get_fieldsets(self, request: HttpRequest, obj: BroadcastSeries | None = None) -> list:
        template_title = _("Template (outside the citizen's 24-hour window)")
        content = ["title", "body" if self._is_draft(obj) else "message_preview", "category"]
        fieldsets = [
            (None, {"fields": content}),
            (template_title, {"fields": ["template", "template_parameters"]}),
            (None, {"fields": ["media_url", "is_public"]}),
            (_("When"), {"fields": ["frequency", "interval", "starts_at", "ends_on"]}),
        ]
        if obj is not None:
            fieldsets.append((_("Status"), {"fields": SERIES_LIFECYCLE_FIELDS}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: BroadcastSeries | None = None) -> list:
        if obj is None:
            return []
        if self._is_draft(obj):
            return SERIES_LIFECYCLE_FIELDS
        return [*SERIES_EDITABLE_FIELDS, "message_preview", *SERIES_LIFECYCLE_FIELDS]

    @admin.display(description=_("text"))
    def message_preview(self, obj: BroadcastSeries) -> SafeString | str:
        return _bubble(whatsapp_to_html(obj.body)) if obj.body else "—"

    def has_delete_permission(
        self, request: HttpRequest, obj: BroadcastSeries | None = None
    ) -> bool:
        return (
            super().has_delete_permission(request, obj)
            and self._is_draft(obj)
            and (obj is None or not obj.occurrences.exists())
        )

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: BroadcastSeries, form, change: bool) -> None:
        values = {name: getattr(obj, name) for name in SERIES_EDITABLE_FIELDS}
        try:
            if not change:
                _become(obj, series_create(author=staff_user(request), **values))
                return
            changed = {name: values[name] for name in form.changed_data if name in values}
            if not series_update_draft(series=obj, actor=staff_user(request), changes=changed):
                messages.warning(
                    request,
                    gettext("The series is no longer a draft: your changes were not saved."),
                )
        except SeriesRefused as refused:  # the form refuses it first; a crafted POST lands here
            raise PermissionDenied(str(refused)) from refused

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if obj is not None and not self._is_draft(obj) and request.method == "POST":
            messages.error(request, gettext("Only a draft can be changed."))
            return HttpResponseRedirect(views.series_change_url(obj))
        context = dict(extra_context or {})
        if obj is not None:
            context.update(self._series_context(request, obj))
        return super().changeform_view(request, object_id, form_url, context)

    def _series_context(self, request: HttpRequest, obj: BroadcastSeries) -> dict:
        user = staff_user(request)
        context: dict[str, Any] = {
            "series_actions": [
                {
                    "action": button,
                    "url": reverse(
                        "admin:broadcasts_broadcastseries_step", args=[obj.pk, button.name]
                    ),
                    "form": button.form_class(auto_id=f"id_{button.name}_%s")
                    if button.form_class
                    else None,
                }
                for button in views.series_buttons_for(user, obj)
            ],
            "events": [
                {"label": event.get_action_display(), "event": event}
                for event in obj.events.select_related("actor")
            ],
            "occurrences": obj.occurrences.order_by("-occurrence_at")[:20],
            "next_occurrences": selectors.series_next_occurrences(
                series=obj, now=timezone.now(), limit=NEXT_OCCURRENCES_SHOWN
            ),
            "quiet_hours": selectors.quiet_hours_label(),
        }
        if obj.status == BroadcastSeries.Status.AWAITING_APPROVAL:
            hint = lifecycle.series_refusal(user, "approve", obj)
            if hint and user.has_perm(lifecycle.APPROVE_PERMISSION):
                context["approval_hint"] = hint
        if not self._is_draft(obj):
            context.update(
                show_save=False, show_save_and_continue=False, show_save_and_add_another=False
            )
        return context

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/step/<slug:action>/",
                self.admin_site.admin_view(self.step_view),
                name="broadcasts_broadcastseries_step",
            ),
            *super().get_urls(),
        ]

    def step_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(gettext("No such recurring broadcast."))
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return views.series_step(request, obj, action)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """Templates as Meta approved them, mirrored by `manage.py sync_templates`: look, never
    touch."""

    list_display = ["name", "language", "category", "status", "synced_at"]
    list_filter = ["status", "category", "language"]
    search_fields = ["name", "body"]
    fields = ("name", "language", "category", "status", "header", "body_preview", "synced_at")
    readonly_fields = fields

    class Media:
        css = {"all": ["broadcasts/broadcasts.css"]}

    @admin.display(description=_("body"))
    def body_preview(self, obj: MessageTemplate) -> SafeString:
        return _bubble(whatsapp_to_html(obj.body))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StaffTestNumber)
class StaffTestNumberAdmin(admin.ModelAdmin):
    """The staff's own numbers that tests may go to: listed by an Administrator (the only role
    holding these permissions), shown masked."""

    form = StaffTestNumberForm
    list_display = ["label", "masked_phone", "added_by", "added_at"]

    @admin.display(description=_("phone number"))
    def masked_phone(self, obj: StaffTestNumber) -> str:
        return mask_address(obj.phone)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("label", "masked_phone", "added_by", "added_at") if obj else ("label", "phone")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("label", "masked_phone", "added_by", "added_at") if obj else ()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj else super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: StaffTestNumber, form, change: bool) -> None:
        obj.added_by = staff_user(request)
        super().save_model(request, obj, form, change)
