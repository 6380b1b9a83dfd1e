"""A newcomer's first steps: play a citizen in the simulator, write and approve a broadcast,
and see it arrive on the citizen's pretend phone."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import citizen_writes, log_in

EDITOR = ("add_broadcast", "change_broadcast", "view_broadcast")


def test_a_citizen_subscribes_through_the_simulator(
    new_page, staff_user, privacy_notice, live_server, screenshot
):
    staff_user("admin", superuser=True)
    page = new_page()
    log_in(page, "admin", next_url="/simulator/")

    citizen_writes(page, "333 123 4567", "Iscrivimi")

    chat = page.get_by_role("list", name="Chat")
    expect(chat.locator(".sim-from-citizen")).to_have_text(re.compile("Iscrivimi"))
    expect(chat.locator(".sim-to-citizen")).to_contain_text("Benvenuto")
    expect(page.get_by_text("you are +393331234567")).to_be_visible()
    assert page.url == f"{live_server.url}/simulator/"  # the number is never in a URL
    screenshot(page, "simulator-subscribed")


def test_the_simulator_opens_at_the_newest_message_and_remembers_the_number(
    new_page, staff_user, privacy_notice
):
    staff_user("admin", superuser=True)
    page = new_page()
    log_in(page, "admin", next_url="/simulator/")
    for text in ("Iscrivimi", "Aiuto", "Buongiorno", "Iscrivimi", "Aiuto", "Info"):
        citizen_writes(page, "333 123 4567", text)

    newest = page.locator(".sim-chat li").last
    expect(newest).to_be_in_viewport()
    assert page.locator(".sim-chat").evaluate("c => c.scrollHeight > c.clientHeight")

    page.context.clear_cookies()  # a new session: it no longer knows the number
    log_in(page, "admin", next_url="/simulator/")
    expect(page.get_by_label("Citizen's number")).to_have_value("+393331234567")


def test_an_editor_writes_an_approver_approves_and_the_citizen_reads_it(
    new_page, staff_user, privacy_notice, screenshot
):
    staff_user("admin", superuser=True)
    staff_user("editor", *EDITOR)
    staff_user("approver", *EDITOR, "approve_broadcast")
    citizen = new_page()
    log_in(citizen, "admin", next_url="/simulator/")
    citizen_writes(citizen, "+39 333 765 4321", "Iscrivimi")

    editor = new_page()
    log_in(editor, "editor")
    editor.goto("/admin/broadcasts/broadcast/add/")
    editor.get_by_label("Title").fill("Chiusura via Roma")
    editor.locator("#id_body").fill("Via Roma chiusa *domani* dalle 8 alle 18.")
    editor.get_by_label("Category").select_option(label="traffic")
    editor.get_by_role("button", name="Save and continue editing").click()
    editor.locator('[data-wa-action="submit"]').click()
    expect(editor.locator("[data-wa-status]")).to_have_text("awaiting approval")
    screenshot(editor, "broadcast-submitted")

    approver = new_page()
    log_in(approver, "approver")
    approver.goto(editor.url)
    approver.locator('[data-wa-action="approve"]').click()
    expect(approver.locator("[data-wa-status]")).to_have_text("sent")

    approver.goto("/admin/")
    latest = approver.get_by_role("region", name="Latest broadcasts")
    expect(latest.get_by_role("row", name=re.compile("Chiusura via Roma"))).to_contain_text("sent")
    expect(approver.get_by_test_id("active-subscribers")).to_have_text("1")
    screenshot(approver, "dashboard")

    citizen.get_by_role("link", name="Refresh").click()
    bubble = citizen.locator(".sim-to-citizen").last
    expect(bubble).to_contain_text("Via Roma chiusa domani dalle 8 alle 18.")
    expect(bubble.locator("strong")).to_have_text("domani")
    screenshot(citizen, "simulator-broadcast")
