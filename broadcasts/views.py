"""Staff views behind the broadcast admin: lifecycle buttons, live progress and the delivery
report. The admin wires them under its own URLs (staff login, CSRF) and passes the broadcast;
each lifecycle button calls exactly one service."""

from __future__ import annotations

import calendar
import csv
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from math import ceil
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from broadcasts import lifecycle, selectors
from broadcasts.forms import (
    ApproveForm,
    AudienceForm,
    CalendarForm,
    NoteForm,
    PauseForm,
    RescheduleForm,
    TestSendForm,
)
from broadcasts.models import Broadcast, BroadcastSeries, MessageTemplate
from broadcasts.services.authoring import TestSendRefused, broadcast_duplicate
from broadcasts.services.authoring import broadcast_send_test as send_test
from comune.spreadsheets import spreadsheet_cell
from gateway import GatewayConfigurationError
from roles.staff import staff_user
from subscribers.selectors import subscriber_active_list

Status = Broadcast.Status


@dataclass(frozen=True)
class LifecycleButton:
    """A lifecycle step as a button on the broadcast's change page. Which states it applies
    to and who may press it is the lifecycle's table (broadcasts.lifecycle.TRANSITIONS)."""

    name: str
    run: Callable[[HttpRequest, Broadcast, forms.Form | None], str]  # returns the success message
    form_class: type[forms.Form] | None = None
    danger: bool = False

    @property
    def label(self) -> str:
        return str(lifecycle.TRANSITIONS[self.name].label)


def _warn_messaging_limit(request: HttpRequest) -> None:
    """Meta caps the citizens a number reaches in 24 hours; past it delivery takes days."""
    limit = getattr(settings, "WHATSAPP_MESSAGING_LIMIT", 0)
    if not limit:
        return
    active = subscriber_active_list().count()
    if active > limit:
        messages.warning(
            request,
            gettext(
                "%(active)s citizens are subscribed, but WhatsApp lets this number reach "
                "%(limit)s a day: delivery will be spread over about %(days)s days."
            )
            % {"active": active, "limit": limit, "days": ceil(active / limit)},
        )


def _audience(form: forms.Form | None) -> str:
    return form.cleaned_data["audience"] if form else Broadcast.Audience.ALL


def _submit(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    lifecycle.broadcast_submit(broadcast=broadcast, actor=staff_user(request))
    return gettext("Submitted for approval.")


def _withdraw(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    lifecycle.broadcast_withdraw(broadcast=broadcast, actor=staff_user(request))
    return gettext("Withdrawn: it is a draft again. Change it, then submit it again.")


def _approve(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    scheduled_at = form.cleaned_data["scheduled_at"] if form else None
    approved = lifecycle.broadcast_approve(
        broadcast=broadcast,
        actor=staff_user(request),
        scheduled_at=scheduled_at,
        audience=_audience(form),
    )
    _warn_messaging_limit(request)
    now = timezone.now()
    starts_at = selectors.broadcast_sending_starts_at(broadcast=approved, now=now)
    if starts_at > max(scheduled_at or now, now):  # held back by the quiet hours
        values = {
            "quiet": selectors.quiet_hours_label(),
            "when": selectors.start_phrase(starts_at, now=now),
        }
        if scheduled_at and scheduled_at > now:
            return (
                gettext(
                    "Approved, but the time chosen falls in the quiet hours (%(quiet)s): sending "
                    "will start %(when)s."
                )
                % values
            )
        return (
            gettext("Approved, but these are quiet hours (%(quiet)s): sending will start %(when)s.")
            % values
        )
    if scheduled_at:
        return gettext("Approved: it will be sent at %(when)s.") % {
            "when": timezone.localtime(scheduled_at).strftime("%d/%m/%Y %H:%M")
        }
    return gettext("Approved: sending starts now.")


def _start_message(broadcast: Broadcast, done: str) -> str:
    """`done`, and when sending will start: held back by the quiet hours, it says until when."""
    now = timezone.now()
    starts_at = selectors.broadcast_sending_starts_at(broadcast=broadcast, now=now)
    if starts_at > max(broadcast.scheduled_at or now, now):
        if broadcast.scheduled_at and broadcast.scheduled_at > now:
            held = gettext(
                "%(done)s The time chosen falls in the quiet hours (%(quiet)s): sending will "
                "start %(when)s."
            )
        else:
            held = gettext(
                "%(done)s These are quiet hours (%(quiet)s): sending will start %(when)s."
            )
        return held % {
            "done": done,
            "quiet": selectors.quiet_hours_label(),
            "when": selectors.start_phrase(starts_at, now=now),
        }
    if starts_at > now:
        return gettext("%(done)s Sending will start %(when)s.") % {
            "done": done,
            "when": selectors.start_phrase(starts_at, now=now),
        }
    return gettext("%(done)s Sending starts now.") % {"done": done}


def _reschedule(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    scheduled_at = form.cleaned_data["scheduled_at"] if form else None
    if scheduled_at is None:  # the form requires it
        raise lifecycle.TransitionNotAllowed(gettext("Choose the new time."))
    moved = lifecycle.broadcast_reschedule(
        broadcast=broadcast, actor=staff_user(request), scheduled_at=scheduled_at
    )
    return _start_message(moved, gettext("Rescheduled."))


def _send_now(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    sent = lifecycle.broadcast_send_now(broadcast=broadcast, actor=staff_user(request))
    _warn_messaging_limit(request)
    return _start_message(sent, gettext("Sent now instead of at its time."))


def _reject(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    note = form.cleaned_data["note"] if form else ""
    lifecycle.broadcast_reject(broadcast=broadcast, actor=staff_user(request), note=note)
    return gettext("Returned to draft.")


def _emergency(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    lifecycle.broadcast_send_emergency(
        broadcast=broadcast, actor=staff_user(request), audience=_audience(form)
    )
    _warn_messaging_limit(request)
    return gettext("Emergency approved: sending starts now.")


def _confirm(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    lifecycle.broadcast_confirm_emergency(broadcast=broadcast, actor=staff_user(request))
    return gettext("Emergency confirmed.")


def _pause(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    reason = form.cleaned_data["reason"] if form else ""
    lifecycle.broadcast_pause(broadcast=broadcast, actor=staff_user(request), reason=reason)
    return gettext("Paused.")


def _resume(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    lifecycle.broadcast_resume(broadcast=broadcast, actor=staff_user(request))
    return gettext("Resumed: citizens who already got it will not get it twice.")


def _cancel(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    lifecycle.broadcast_cancel(broadcast=broadcast, actor=staff_user(request))
    return gettext("Cancelled.")


def _retry(request: HttpRequest, broadcast: Broadcast, form: forms.Form | None) -> str:
    count = lifecycle.broadcast_retry_failed(broadcast=broadcast, actor=staff_user(request))
    return gettext("%(count)s failed deliveries queued again.") % {"count": count}


BUTTONS: dict[str, LifecycleButton] = {
    button.name: button
    for button in [
        LifecycleButton("submit", _submit),
        LifecycleButton("withdraw", _withdraw),
        LifecycleButton("approve", _approve, form_class=ApproveForm),
        LifecycleButton("emergency", _emergency, form_class=AudienceForm, danger=True),
        LifecycleButton("confirm", _confirm),
        LifecycleButton("reschedule", _reschedule, form_class=RescheduleForm),
        LifecycleButton("send_now", _send_now),
        LifecycleButton("reject", _reject, form_class=NoteForm),
        LifecycleButton("pause", _pause, form_class=PauseForm),
        LifecycleButton("resume", _resume),
        LifecycleButton("retry", _retry),
        LifecycleButton("cancel", _cancel, danger=True),
    ]
}

# Sending a test costs a message: editors may do it while the broadcast can still change course.
TEST_STATUSES = (Status.DRAFT, Status.AWAITING_APPROVAL, Status.APPROVED, Status.PAUSED)


def lifecycle_buttons_for(user: User, broadcast: Broadcast) -> list[LifecycleButton]:
    """The buttons this user sees on this broadcast, in display order."""
    steps = lifecycle.steps_for(user, broadcast)
    return [button for name, button in BUTTONS.items() if name in steps]


def may_send_test(user: User, broadcast: Broadcast) -> bool:
    return broadcast.status in TEST_STATUSES and user.has_perm(lifecycle.CHANGE_PERMISSION)


def broadcast_lifecycle(
    request: HttpRequest, broadcast: Broadcast, step: str, redirect_to: str
) -> HttpResponseRedirect:
    """Take one lifecycle step (POST) and report the outcome as a message."""
    button = BUTTONS.get(step)
    if button is None:
        raise Http404
    refused = lifecycle.refusal(staff_user(request), step, broadcast)
    return _step_take(request, broadcast, button, refused=refused, redirect_to=redirect_to)


def _step_take(
    request: HttpRequest,
    subject: Any,
    button: LifecycleButton | SeriesButton,
    *,
    refused: str | None,
    redirect_to: str,
) -> HttpResponseRedirect:
    """A broadcast's or a series' step: the refusal, the step's form, then the step, each
    outcome reported as a message."""
    if refused:
        messages.error(request, refused)
        return HttpResponseRedirect(redirect_to)
    form = None
    if button.form_class is not None:
        form = button.form_class(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    # Iterating an ErrorList yields its messages (the stubs add ValidationError).
                    messages.error(request, error)  # type: ignore[arg-type]
            return HttpResponseRedirect(redirect_to)
    try:
        success = button.run(request, subject, form)
    except lifecycle.TransitionNotAllowed as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, success)
    return HttpResponseRedirect(redirect_to)


def broadcast_progress(request: HttpRequest, broadcast: Broadcast) -> JsonResponse:
    """Counts and status, polled by the change page while the broadcast is sending."""
    counts = selectors.broadcast_delivery_counts(broadcast_id=broadcast.pk)
    return JsonResponse(
        {
            "status": broadcast.status,
            "status_display": broadcast.get_status_display(),
            "paused_reason": broadcast.paused_reason,
            "total": counts.total,
            "queued": counts.queued,
            "sent": counts.sent,
            "delivered": counts.delivered,
            "read": counts.read,
            "failed": counts.failed,
            "unknown": counts.unknown,
            "skipped": counts.skipped,
            "done": counts.done,
            "percent_done": counts.percent_done,
        }
    )


def reach_data(template: MessageTemplate | None) -> dict:
    """Who a broadcast with `template` would reach if approved now, for the editor and the
    approval page (broadcasts/reach.js keeps it live)."""
    reach = selectors.broadcast_reach(template=template)
    return {
        "total": reach.total,
        "in_window": reach.in_window,
        "template_only": reach.template_only,
        "template_approved": reach.template_approved,
        "needs_window_only": reach.needs_window_only,
    }


def broadcast_reach(request: HttpRequest) -> JsonResponse:
    """The reach now, for the template chosen in the editor (`?template=<id>`, or none)."""
    template_id = request.GET.get("template", "")
    template = None
    if template_id.isascii() and template_id.isdigit():
        template = MessageTemplate.objects.filter(pk=int(template_id)).first()
    return JsonResponse(reach_data(template))


class _Echo:
    """A write-only file for csv.writer: hands back each line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _report_lines(broadcast: Broadcast) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM, so that spreadsheets read the masked digits' dots as UTF-8
    yield writer.writerow(
        [
            gettext("number"),
            gettext("status"),
            gettext("sent at"),
            gettext("delivered at"),
            gettext("read at"),
            gettext("failed at"),
            gettext("error code"),
            gettext("error"),
        ]
    )
    for delivery in selectors.broadcast_delivery_report(broadcast_id=broadcast.pk):
        yield writer.writerow(
            [
                spreadsheet_cell(delivery.subscriber.masked_address),
                spreadsheet_cell(delivery.get_status_display()),
                spreadsheet_cell(delivery.sent_at),
                spreadsheet_cell(delivery.delivered_at),
                spreadsheet_cell(delivery.read_at),
                spreadsheet_cell(delivery.failed_at),
                spreadsheet_cell(delivery.error_code),
                spreadsheet_cell(delivery.error_title),
            ]
        )


def broadcast_delivery_report(request: HttpRequest, broadcast: Broadcast) -> StreamingHttpResponse:
    """One row per delivery, numbers masked, streamed however many rows there are."""
    response = StreamingHttpResponse(
        _report_lines(broadcast), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="broadcast-{broadcast.pk}-deliveries.csv"'
    )
    return response


def broadcast_send_test(
    request: HttpRequest, broadcast: Broadcast, context: dict, redirect_to: str
) -> HttpResponse:
    """Ask which staff test number (GET), send the broadcast there (POST).

    A refused test (a number nobody listed, too many this hour) is an error message; the number
    never enters a URL."""
    if not may_send_test(staff_user(request), broadcast):
        messages.error(
            request, gettext("A test can be sent only before the broadcast goes out, by an editor.")
        )
        return HttpResponseRedirect(redirect_to)
    form = TestSendForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            result = send_test(
                broadcast=broadcast,
                actor=staff_user(request),
                test_number=form.cleaned_data["test_number"],
            )
        except TestSendRefused as refused:
            messages.error(request, str(refused))
        except GatewayConfigurationError as problem:
            messages.error(request, gettext("WhatsApp is not configured: %s") % problem)
        else:
            if result.error is None:
                messages.success(request, gettext("Test sent: check your WhatsApp."))
            else:
                messages.error(
                    request,
                    gettext("The test was not sent: %(code)s %(title)s")
                    % {"code": result.error.code or "", "title": result.error.title},
                )
        return HttpResponseRedirect(redirect_to)
    context = {**context, "form": form, "broadcast": broadcast, "cancel_url": redirect_to}
    status = 400 if form.is_bound else 200
    return TemplateResponse(
        request, "admin/broadcasts/broadcast/send_test.html", context, status=status
    )


def change_url(broadcast: Broadcast) -> str:
    return reverse("admin:broadcasts_broadcast_change", args=[broadcast.pk])


def may_duplicate(user: User) -> bool:
    return user.has_perm("broadcasts.add_broadcast")


def broadcast_duplicate_view(request: HttpRequest, broadcast: Broadcast) -> HttpResponseRedirect:
    """Make a new draft from `broadcast` (POST) and open it."""
    if not may_duplicate(staff_user(request)):
        messages.error(request, gettext("You may not write broadcasts."))
        return HttpResponseRedirect(change_url(broadcast))
    copy = broadcast_duplicate(broadcast=broadcast, actor=staff_user(request))
    messages.success(
        request, gettext("Copy made: a new draft. Change what you need, then submit it.")
    )
    return HttpResponseRedirect(change_url(copy))


# --- Recurring broadcasts ---------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesButton:
    """A recurring broadcast's step as a button on its page (broadcasts.lifecycle's
    SERIES_TRANSITIONS says when it applies and who may press it)."""

    name: str
    run: Callable[[HttpRequest, BroadcastSeries, forms.Form | None], str]
    form_class: type[forms.Form] | None = None
    danger: bool = False

    @property
    def label(self) -> str:
        return str(lifecycle.SERIES_TRANSITIONS[self.name].label)


def _series_submit(request: HttpRequest, series: BroadcastSeries, form: forms.Form | None) -> str:
    lifecycle.series_submit(series=series, actor=staff_user(request))
    return gettext("Submitted for approval.")


def _series_withdraw(request: HttpRequest, series: BroadcastSeries, form: forms.Form | None) -> str:
    lifecycle.series_withdraw(series=series, actor=staff_user(request))
    return gettext("Withdrawn: it is a draft again. Change it, then submit it again.")


def _series_approve(request: HttpRequest, series: BroadcastSeries, form: forms.Form | None) -> str:
    lifecycle.series_approve(series=series, actor=staff_user(request), audience=_audience(form))
    return gettext(
        "Approved: each occurrence is made a day ahead, with this text, and shows in the calendar."
    )


def _series_reject(request: HttpRequest, series: BroadcastSeries, form: forms.Form | None) -> str:
    note = form.cleaned_data["note"] if form else ""
    lifecycle.series_reject(series=series, actor=staff_user(request), note=note)
    return gettext("Returned to draft.")


def _series_reopen(request: HttpRequest, series: BroadcastSeries, form: forms.Form | None) -> str:
    lifecycle.series_reopen(series=series, actor=staff_user(request))
    return gettext(
        "It is a draft again: no occurrence is made until it is approved again. Occurrences "
        "already made keep the approved text."
    )


def _series_end(request: HttpRequest, series: BroadcastSeries, form: forms.Form | None) -> str:
    lifecycle.series_end(series=series, actor=staff_user(request))
    return gettext("Ended: no more occurrences will be made.")


SERIES_BUTTONS: dict[str, SeriesButton] = {
    button.name: button
    for button in [
        SeriesButton("submit", _series_submit),
        SeriesButton("withdraw", _series_withdraw),
        SeriesButton("approve", _series_approve, form_class=AudienceForm),
        SeriesButton("reject", _series_reject, form_class=NoteForm),
        SeriesButton("reopen", _series_reopen),
        SeriesButton("end", _series_end, danger=True),
    ]
}


def series_buttons_for(user: User, series: BroadcastSeries) -> list[SeriesButton]:
    steps = lifecycle.series_steps_for(user, series)
    return [button for name, button in SERIES_BUTTONS.items() if name in steps]


def series_change_url(series: BroadcastSeries) -> str:
    return reverse("admin:broadcasts_broadcastseries_change", args=[series.pk])


def series_step(request: HttpRequest, series: BroadcastSeries, step: str) -> HttpResponseRedirect:
    """Take one of a recurring broadcast's steps (POST) and report the outcome as a message."""
    button = SERIES_BUTTONS.get(step)
    if button is None:
        raise Http404
    redirect_to = series_change_url(series)
    refused = lifecycle.series_refusal(staff_user(request), step, series)
    return _step_take(request, series, button, refused=refused, redirect_to=redirect_to)


# --- The calendar -----------------------------------------------------------------------------


@dataclass
class CalendarDay:
    day: date
    in_period: bool  # a month's page shows the days of its first and last weeks around it
    is_today: bool
    entries: list[selectors.CalendarEntry] = field(default_factory=list)


def calendar_url(view: str, day: date) -> str:
    query = urlencode({"view": view, "date": day.isoformat()})
    return f"{reverse('admin:broadcasts_broadcast_calendar')}?{query}"


def _month_bounds(day: date) -> tuple[date, date, date, date]:
    """The month of `day`: its first and last days, and the Monday and Sunday around them."""
    first = day.replace(day=1)
    last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return (
        first,
        last,
        first - timedelta(days=first.weekday()),
        last + timedelta(6 - last.weekday()),
    )


def broadcast_calendar(request: HttpRequest, context: dict) -> HttpResponse:
    """The calendar of scheduled and sent broadcasts, a month or a week (`?view=week&date=
    2026-12-03`), with links to the previous and next one; an approver gets the approved ones'
    reschedule and send-now buttons, which bring them back here. A bad date is a 400 saying so."""
    form = CalendarForm(request.GET)
    if not form.is_valid():
        context = {**context, "form_errors": form.errors, "title": gettext("Calendar")}
        return TemplateResponse(
            request, "admin/broadcasts/broadcast/calendar.html", context, status=400
        )
    view, day = form.cleaned_data["view"], form.cleaned_data["date"]
    today = timezone.localdate()
    if view == CalendarForm.WEEK:
        first = day - timedelta(days=day.weekday())
        shown_first, last = first, first + timedelta(days=6)
        shown_last = last
        previous, following = first - timedelta(days=7), first + timedelta(days=7)
    else:
        first, last, shown_first, shown_last = _month_bounds(day)
        previous = (first - timedelta(days=1)).replace(day=1)
        following = last + timedelta(days=1)
    by_day: dict[date, list[selectors.CalendarEntry]] = defaultdict(list)
    for entry in selectors.calendar_entries(
        first_day=shown_first, last_day=shown_last, now=timezone.now()
    ):
        by_day[timezone.localtime(entry.at).date()].append(entry)
    shown = [
        shown_first + timedelta(days=offset)
        for offset in range((shown_last - shown_first).days + 1)
    ]
    days = [
        CalendarDay(
            day=moment,
            in_period=first <= moment <= last,
            is_today=moment == today,
            entries=by_day[moment],
        )
        for moment in shown
    ]
    user = staff_user(request)
    here = calendar_url(view, day)
    may_move = user.has_perm(lifecycle.APPROVE_PERMISSION)
    context = {
        **context,
        "title": gettext("Calendar"),
        "view": view,
        "day": day,
        "first_day": first,
        "last_day": last,
        "weeks": [days[i : i + 7] for i in range(0, len(days), 7)],
        "days": days,
        "has_entries": any(day.entries for day in days if day.in_period),
        "weekdays": [shown_first + timedelta(days=i) for i in range(7)],
        "previous_url": calendar_url(view, previous),
        "next_url": calendar_url(view, following),
        "today_url": calendar_url(view, today),
        "month_url": calendar_url(CalendarForm.MONTH, day),
        "week_url": calendar_url(CalendarForm.WEEK, day),
        "here": here,
        "may_move": may_move,
        "quiet_hours": selectors.quiet_hours_label(),
    }
    return TemplateResponse(request, "admin/broadcasts/broadcast/calendar.html", context)
