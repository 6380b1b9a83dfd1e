"""The broadcast flow in the Italian admin as staff meet it, on a phone (390 px) and a computer:
every action reachable and recognisable as a button, and axe-core finding no serious or critical
violation on the pages of the flow (Italian public bodies owe WCAG 2.1 AA)."""

import re

import pytest
from playwright.sync_api import expect

from broadcasts import lifecycle
from broadcasts.models import Broadcast
from broadcasts.services import authoring
from tests.browser.conftest import PHONE_VIEWPORT, citizen_writes, log_in

EDITOR = ("add_broadcast", "change_broadcast", "view_broadcast")
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def emergency(staff_user, privacy_notice, new_page) -> Broadcast:
    """An emergency awaiting approval, and a citizen who just wrote (inside the window)."""
    staff_user("admin", superuser=True)
    editor = staff_user("editor", *EDITOR)
    staff_user("approver", *EDITOR, "approve_broadcast")
    citizen = new_page()
    log_in(citizen, "admin", next_url="/simulator/")
    citizen_writes(citizen, "3331234567", "Iscrivimi")
    broadcast = authoring.broadcast_create(
        author=editor,
        title="Allerta meteo rossa",
        body="Allerta *rossa* per temporali: scuole chiuse domani.",
        category=Broadcast.Category.EMERGENCY,
    )
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    return broadcast


def assert_actions_fit(page, width: int) -> None:
    """Each action of the bar is a visible button inside the screen's width, big enough to tap."""
    buttons = page.locator(".wa-actions button")
    assert buttons.count() > 0
    for index in range(buttons.count()):
        button = buttons.nth(index)
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, button.inner_text()
        assert box["height"] >= 24, button.inner_text()  # WCAG 2.2's minimum target


@pytest.mark.parametrize("viewport", [PHONE_VIEWPORT, DESKTOP], ids=["phone", "desktop"])
def test_the_approver_approves_an_emergency(new_page, emergency, axe, screenshot, viewport):
    page = new_page(locale="it-IT", viewport=viewport)
    log_in(page, "approver")
    name = "phone" if viewport is PHONE_VIEWPORT else "desktop"

    page.goto(f"/admin/broadcasts/broadcast/{emergency.pk}/change/")
    expect(page.locator("[data-wa-status]")).to_have_text("in attesa di approvazione")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert_actions_fit(page, viewport["width"])
    axe(page)
    screenshot(page, f"admin-emergency-approval-{name}")

    page.locator('[data-wa-action="approve"]').click()
    expect(page.locator("[data-wa-status]")).to_have_text(re.compile("inviat"))
    axe(page)
    screenshot(page, f"admin-emergency-sent-{name}")


@pytest.mark.parametrize("viewport", [PHONE_VIEWPORT, DESKTOP], ids=["phone", "desktop"])
def test_the_editors_dashboard_reads_well(new_page, emergency, axe, screenshot, viewport):
    page = new_page(locale="it-IT", viewport=viewport)
    log_in(page, "editor")
    name = "phone" if viewport is PHONE_VIEWPORT else "desktop"

    expect(page.locator("#site-name")).to_contain_text("Comune")
    for days in ("7", "30", "90"):
        expect(page.get_by_role("link", name=re.compile(rf"^{days} giorni$"))).to_be_visible()
    latest = page.get_by_role("region", name="Ultime comunicazioni")
    expect(latest.get_by_role("row", name=re.compile("Allerta meteo rossa"))).to_be_visible()
    # The table stays inside its box: a narrow screen scrolls it there.
    frame, table = latest.bounding_box(), latest.locator(".dashboard-scroll").bounding_box()
    assert table["x"] + table["width"] <= frame["x"] + frame["width"] + 1
    # Every header reads on one line or two, none squeezed a letter per line.
    for header in latest.locator("th").all():
        assert header.bounding_box()["height"] <= 40, header.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    axe(page)
    screenshot(page, f"admin-dashboard-{name}")


def test_the_pages_of_the_broadcast_flow_pass_axe(new_page, emergency, axe):
    page = new_page(locale="it-IT", viewport=PHONE_VIEWPORT)
    log_in(page, "editor")

    for url in (
        "/admin/broadcasts/broadcast/",
        "/admin/broadcasts/broadcast/add/",
        f"/admin/broadcasts/broadcast/{emergency.pk}/change/",
        "/admin/notifications/",
    ):
        page.goto(url)
        axe(page)
