"""The calendar in a browser (issue 17, point 3): Italian, usable at 390 px (no sideways scroll,
every entry a link, the approver's buttons reachable), with axe-core finding no serious or
critical violation, at desktop and phone width."""

from datetime import datetime, time, timedelta

from django.utils import timezone

from broadcasts import lifecycle
from broadcasts.models import Broadcast, BroadcastSeries
from broadcasts.services import authoring, series
from tests.browser.conftest import PASSWORD, PHONE_VIEWPORT

APPROVER = ("view_broadcast", "add_broadcast", "change_broadcast", "approve_broadcast")


def log_in_italian(page, username: str) -> None:
    """The admin's login form, in Italian (the conftest's helper reads the English labels)."""
    page.goto("/admin/login/?next=/admin/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form#login-form [type=submit]").click()
    page.wait_for_url("**/admin/")


def test_an_approver_uses_the_calendar_on_a_phone(new_page, staff_user, axe, screenshot):
    editor = staff_user("redattore", "view_broadcast", "add_broadcast", "change_broadcast")
    staff_user("approvatrice", *APPROVER)
    approver = staff_user("approvatore", *APPROVER)
    tomorrow = timezone.localdate() + timedelta(days=1)
    broadcast = authoring.broadcast_create(
        author=editor,
        title="Mercato spostato in piazza Garibaldi",
        body="Il mercato di domani si tiene in piazza Garibaldi.",
        category=Broadcast.Category.EVENT,
    )
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    lifecycle.broadcast_approve(
        broadcast=broadcast,
        actor=approver,
        scheduled_at=timezone.make_aware(datetime.combine(tomorrow, time(10, 30))),
    )
    week = f"/admin/broadcasts/broadcast/calendar/?view=week&date={tomorrow.isoformat()}"
    month = f"/admin/broadcasts/broadcast/calendar/?view=month&date={tomorrow.isoformat()}"

    desktop = new_page(locale="it-IT")
    log_in_italian(desktop, "approvatore")
    desktop.goto(month)
    assert desktop.get_by_role("link", name="Mercato spostato in piazza Garibaldi").is_visible()
    axe(desktop)
    screenshot(desktop, "calendar-month-desktop")

    phone = new_page(locale="it-IT", viewport=PHONE_VIEWPORT)
    log_in_italian(phone, "approvatore")
    for url, name in ((month, "calendar-month-phone"), (week, "calendar-week-phone")):
        phone.goto(url)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
        assert phone.get_by_role("link", name="Mercato spostato in piazza Garibaldi").is_visible()
        assert (
            phone.get_by_role("link", name="Mese successivo").is_visible()
            or phone.get_by_role("link", name="Settimana successiva").is_visible()
        )
        axe(phone)
        screenshot(phone, name)

    send_now = phone.get_by_role("button", name="Invia subito")
    send_now.scroll_into_view_if_needed()
    assert send_now.is_visible()
    reschedule = phone.get_by_role("button", name="Sposta")
    box = reschedule.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE_VIEWPORT["width"]
    phone.get_by_label("Nuovo orario").fill(f"{tomorrow.isoformat()}T16:00")
    reschedule.click()
    phone.wait_for_load_state()
    assert "Spostata." in phone.content()
    broadcast.refresh_from_db()
    assert timezone.localtime(broadcast.scheduled_at).time() == time(16, 0)


def test_a_recurring_broadcast_page_on_a_phone(new_page, staff_user, axe, screenshot):
    series_permissions = ("add_broadcastseries", "change_broadcastseries", "view_broadcastseries")
    editor = staff_user(
        "redattore", "view_broadcast", "add_broadcast", "change_broadcast", *series_permissions
    )
    approver = staff_user("approvatore", *APPROVER, *series_permissions)
    weekly = series.series_create(
        author=editor,
        title="Raccolta della carta",
        body="Domani mattina si raccoglie la *carta*.",
        category=Broadcast.Category.PUBLIC_UTILITY,
        frequency=BroadcastSeries.Frequency.WEEKLY,
        starts_at=timezone.now() + timedelta(days=2),
    )
    lifecycle.series_submit(series=weekly, actor=editor)

    phone = new_page(locale="it-IT", viewport=PHONE_VIEWPORT)
    log_in_italian(phone, approver.username)
    phone.goto(f"/admin/broadcasts/broadcastseries/{weekly.pk}/change/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    screenshot(phone, "series-awaiting-approval-phone")
    axe(phone)
    phone.get_by_role("button", name="Approva la serie").click()
    phone.wait_for_load_state()
    assert "Prossimi invii" in phone.content()
    axe(phone)
    weekly.refresh_from_db()
    assert weekly.status == BroadcastSeries.Status.APPROVED
