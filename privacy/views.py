"""The privacy officer's pages behind the consent log's admin: export the log, answer a
subject-access request. The admin wires them under its own URLs (staff login, CSRF) and passes
its page context; the work is in privacy.exports.

No phone number ever enters a URL or a log line: the subject-access number travels in the POST
body only, and the export's filters hold no personal data."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext

from privacy import exports
from privacy.forms import ConsentExportForm, SubjectAccessForm
from roles.models import EXPORT_CONSENT_LOG, SUBJECT_ACCESS
from subscribers import selectors

logger = logging.getLogger(__name__)

FORM_TEMPLATE = "admin/subscribers/consentrecord/privacy_form.html"
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json; charset=utf-8",
}


def _attachment(response: HttpResponseBase, filename: str) -> HttpResponseBase:
    """A download; the admin's own wrapper already forbids caching it (never_cache)."""
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def consent_export(request: HttpRequest, context: dict) -> HttpResponseBase:
    """The export form (GET without a format), or the chosen part of the log as a download."""
    if not request.user.has_perm(EXPORT_CONSENT_LOG):
        raise PermissionDenied
    form = ConsentExportForm(request.GET if "format" in request.GET else None)
    if not form.is_valid():
        context = {
            **context,
            "form": form,
            "method": "get",
            "submit_label": gettext("Export"),
            "intro": gettext(
                "Every consent event in the chosen days (by the citizen's own time), with the "
                "full number, the privacy-notice version, the evidence and the hash chain."
            ),
        }
        return TemplateResponse(
            request, FORM_TEMPLATE, context, status=400 if form.is_bound else 200
        )
    data = form.cleaned_data
    records = selectors.consent_record_list(
        occurred_from=data["occurred_from"],
        occurred_to=data["occurred_to"],
        action=data["action"],
        channel=data["channel"],
    )
    kind = data["format"]
    logger.info("consent log exported as %s by user %s", kind, request.user.pk)
    filename = f"consent-log-{timezone.localtime():%Y%m%d-%H%M}.{kind}"
    if kind == "xlsx":
        response: HttpResponseBase = FileResponse(
            exports.consent_log_xlsx(records),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        writer = exports.consent_log_csv if kind == "csv" else exports.consent_log_json
        response = StreamingHttpResponse(writer(records), content_type=CONTENT_TYPES[kind])
    return _attachment(response, filename)


def subject_access(request: HttpRequest, context: dict) -> HttpResponseBase:
    """Ask for a number (GET); everything held about it as a JSON download (POST)."""
    if not request.user.has_perm(SUBJECT_ACCESS):
        raise PermissionDenied
    form = SubjectAccessForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        document = exports.subject_access_document(phone=form.cleaned_data["phone"])
        if document is not None:
            logger.info("subject-access export by user %s", request.user.pk)
            response = HttpResponse(
                exports.subject_access_json(document),
                content_type="application/json; charset=utf-8",
            )
            filename = f"subject-access-{timezone.localtime():%Y%m%d-%H%M%S}.json"
            return _attachment(response, filename)
        messages.info(
            request, gettext("Nothing is held about this number: no subscriber, no message.")
        )
    context = {
        **context,
        "form": form,
        "method": "post",
        "submit_label": gettext("Download the data (JSON)"),
        "intro": gettext(
            "Everything the service holds about one number: subscription, consent history with "
            "the privacy-notice versions and evidence, broadcasts delivered, messages received."
        ),
    }
    status = 400 if form.is_bound and form.errors else 200
    return TemplateResponse(request, FORM_TEMPLATE, context, status=status)
