"""The citizens' pages as a citizen meets them: on a phone and a computer, by keyboard, with
axe-core finding no serious or critical accessibility violation, and the feeds well formed."""

import re
import xml.etree.ElementTree as ET

import pytest
from playwright.sync_api import expect

from broadcasts import lifecycle
from broadcasts.models import Broadcast
from broadcasts.services import authoring
from public.models import Regulation
from tests.browser.conftest import PHONE_VIEWPORT, citizen_writes, log_in

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def published(staff_user, privacy_notice, new_page) -> Broadcast:
    """A regulation, one subscriber (through the simulator) and a sent public broadcast."""
    Regulation.objects.create(
        title="Regolamento del servizio WhatsApp",
        body="Art. 1 — Finalità.\nIl servizio informa i cittadini.",
        adopted_by="Delibera di Giunta n. 12",
    )
    admin = staff_user("admin", superuser=True)
    editor = staff_user("editor", "add_broadcast", "change_broadcast")
    citizen = new_page()
    log_in(citizen, "admin", next_url="/simulator/")
    citizen_writes(citizen, "3331234567", "Iscrivimi")
    broadcast = authoring.broadcast_create(
        author=editor,
        title="Raccolta rifiuti spostata",
        body="Lunedì la raccolta passa a *martedì*.",
        category=Broadcast.Category.PUBLIC_UTILITY,
    )
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    lifecycle.broadcast_approve(broadcast=broadcast, actor=admin)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    return broadcast


def test_how_to_subscribe_on_a_phone(new_page, published, settings, axe, screenshot):
    page = new_page(locale="it-IT", viewport=PHONE_VIEWPORT)
    page.goto("/")

    expect(page.get_by_role("heading", level=1)).to_be_visible()
    link = page.locator('a[href^="https://wa.me/"]')
    expect(link).to_have_attribute("href", re.compile(r"^https://wa\.me/\d+\?text=Iscrivimi$"))
    qr = page.locator("figure svg.qr")
    expect(qr).to_be_visible()
    assert qr.bounding_box()["width"] <= PHONE_VIEWPORT["width"]
    expect(page.locator(".count strong")).to_have_text("1")
    axe(page)
    screenshot(page, "public-how-to-subscribe-phone")


def test_the_keyboard_reaches_the_content_first(new_page, published):
    page = new_page()
    page.goto("/")

    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_every_public_page_is_accessible(new_page, published, axe, screenshot):
    page = new_page(locale="it-IT")
    pages = {
        "/": "public-how-to-subscribe",
        "/archivio/": "public-archive",
        f"/archivio/{published.pk}/": "public-archive-notice",
        "/regolamento/": "public-regulation",
        "/informativa-privacy/": "public-privacy-notice",
    }
    for url, name in pages.items():
        page.goto(url)
        expect(page.locator("main h1")).to_be_visible()
        axe(page)
        screenshot(page, name)

    page.goto("/archivio/")
    page.get_by_role("link", name="Raccolta rifiuti spostata").click()
    expect(page.locator("main strong")).to_have_text("martedì")


def test_the_feeds_are_valid_rss_and_atom(new_page, published, live_server, settings):
    settings.SITE_URL = live_server.url  # feeds link from SITE_URL, never from the Host header
    page = new_page()

    rss = page.request.get("/archivio/rss/")
    atom = page.request.get("/archivio/atom/")

    channel = ET.fromstring(rss.body()).find("channel")  # noqa: S314 - our own feed
    for required in ("title", "link", "description"):
        assert channel.findtext(required), required
    item = channel.find("item")
    assert item.findtext("title") == "Raccolta rifiuti spostata"
    assert item.findtext("link") == f"{live_server.url}/archivio/{published.pk}/"
    feed = ET.fromstring(atom.body())  # noqa: S314 - our own feed
    for required in ("id", "title", "updated"):
        assert feed.findtext(ATOM + required), required
    entry = feed.find(ATOM + "entry")
    for required in ("id", "title", "updated"):
        assert entry.findtext(ATOM + required), required
    page.goto("/archivio/")
    expect(page.locator('link[rel="alternate"][type="application/atom+xml"]')).to_have_count(1)
