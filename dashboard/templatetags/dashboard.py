"""The dashboard on the admin's index: templates/admin/index.html calls {% dashboard_panel %}.

An inclusion tag, because the admin's index view is Django's own; like a view, it only
validates its input and asks the selectors."""

from datetime import datetime, time, timedelta

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from broadcasts import selectors as broadcast_selectors
from dashboard.charts import daily_chart
from dashboard.forms import DEFAULT_PERIOD, PERIODS, PeriodForm, period_label
from roles.staff import staff_user
from subscribers import selectors as subscriber_selectors
from subscribers.models import ConsentRecord
from webhooks import selectors as webhook_selectors

register = template.Library()

LATEST_BROADCASTS = 5


@register.inclusion_tag("admin/dashboard/panel.html", takes_context=True)
def dashboard_panel(context: template.Context) -> dict:
    request = context["request"]
    form = PeriodForm(request.GET if "days" in request.GET else None)
    days = form.cleaned_data["days"] if form.is_valid() else DEFAULT_PERIOD
    last_day = timezone.localdate()
    first_day = last_day - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first_day, time.min))
    panel = {
        "periods": [(period, period_label(period), period == days) for period in PERIODS],
        "days": days,
        "simulator_enabled": settings.SIMULATOR_ENABLED,
        "active_subscribers": subscriber_selectors.subscriber_active_list().count(),
        "chart": daily_chart(
            first_day=first_day,
            last_day=last_day,
            joins=subscriber_selectors.consent_daily_counts(
                action=ConsentRecord.Action.GRANTED, since=since
            ),
            leaves=subscriber_selectors.consent_daily_counts(
                action=ConsentRecord.Action.WITHDRAWN, since=since
            ),
        ),
    }
    if request.user.has_perm("webhooks.view_statusdeadletter"):
        panel["dead_letters"] = webhook_selectors.status_dead_letter_count()
    if request.user.has_perm("broadcasts.approve_broadcast"):
        panel["waiting"] = list(
            broadcast_selectors.broadcasts_awaiting_approval_by(user=staff_user(request))
        )
        panel["waiting_series"] = list(
            broadcast_selectors.series_awaiting_approval_by(user=staff_user(request))
        )
        panel["to_confirm"] = list(broadcast_selectors.broadcasts_emergencies_to_confirm())
    if request.user.has_perm("broadcasts.view_broadcast"):
        panel["latest"] = broadcast_selectors.broadcast_latest_with_funnel(limit=LATEST_BROADCASTS)
        sending = broadcast_selectors.broadcast_sending_now()
        if sending is not None:
            panel["sending"] = sending
            panel["counts"] = broadcast_selectors.broadcast_delivery_counts(broadcast_id=sending.pk)
            panel["progress_url"] = reverse(
                "admin:broadcasts_broadcast_progress", args=[sending.pk]
            )
    return panel
