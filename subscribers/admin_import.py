"""The subscriber admin's import: upload, a preview that names every bad row, confirm."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from import_export.admin import ImportMixin
from import_export.formats import base_formats
from import_export.results import Result, RowResult
from import_export.tmp_storages import CacheStorage

from subscribers.imports import SubscriberImportResource


class PreviewExpired(Exception):
    """The uploaded file is no longer held: the confirmation came too late (or was forged)."""


class ExpiringCacheStorage(CacheStorage):
    """Holds the uploaded file between preview and confirmation in the cache, for a day at
    most: an abandoned preview leaves no list of numbers behind on disk."""

    def read(self):
        data = super().read()
        if data is None:
            raise PreviewExpired
        return data


class SubscriberImportMixin(ImportMixin):
    """Import for users who may add subscribers (the privacy officer, administrators).

    Unlike import-export's default, a preview with invalid rows can still be confirmed: the
    invalid rows are listed with their reasons and skipped, the others imported.
    """

    resource_classes = [SubscriberImportResource]
    import_formats = [base_formats.CSV, base_formats.XLSX]
    import_template_name = "admin/subscribers/subscriber/import.html"
    import_export_change_list_template = "admin/subscribers/subscriber/change_list.html"
    tmp_storage_class = ExpiringCacheStorage

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscribers.add_subscriber")

    def import_action(self, request: HttpRequest, **kwargs) -> HttpResponse:
        response = super().import_action(request, **kwargs)
        context = response.context_data
        result = context.get("result")
        if (
            result is not None
            and "confirm_form" not in context
            and not result.has_errors()
            and result.valid_rows()
        ):
            context["confirm_form"] = self.create_confirm_form(request, import_form=context["form"])
        return response

    def process_import(self, request: HttpRequest, **kwargs) -> HttpResponse:
        try:
            return super().process_import(request, **kwargs)
        except PreviewExpired:
            messages.error(request, _("The preview has expired: upload the file again."))
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_import"))

    def add_success_message(self, result: Result, request: HttpRequest) -> None:
        subscribed = (
            result.totals[RowResult.IMPORT_TYPE_NEW] + result.totals[RowResult.IMPORT_TYPE_UPDATE]
        )
        messages.success(
            request,
            _("Import finished: %(subscribed)s subscribed, %(skipped)s rows not imported.")
            % {"subscribed": subscribed, "skipped": result.totals[RowResult.IMPORT_TYPE_INVALID]},
        )
