import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


def test_the_rss_feed_has_the_required_elements_and_the_public_broadcasts(client, send_broadcast):
    send_broadcast("Chiusura scuole", "Scuole chiuse per neve.")
    send_broadcast("Riservato", is_public=False)

    response = client.get("/archivio/rss/")
    channel = ET.fromstring(response.content).find("channel")  # noqa: S314 - our own feed

    assert response["Content-Type"].startswith("application/rss+xml")
    for required in ("title", "link", "description"):
        assert channel.findtext(required), required
    items = channel.findall("item")
    assert [item.findtext("title") for item in items] == ["Chiusura scuole"]
    assert items[0].findtext("description") == "Scuole chiuse per neve."
    assert items[0].findtext("link").startswith("http://testserver/archivio/")
    assert items[0].findtext("pubDate")


def test_the_atom_feed_has_the_required_elements(client, send_broadcast):
    send_broadcast("Mercato spostato")

    feed = ET.fromstring(client.get("/archivio/atom/").content)  # noqa: S314 - our own feed

    for required in ("id", "title", "updated"):
        assert feed.findtext(ATOM + required), required
    entry = feed.find(ATOM + "entry")
    assert entry.findtext(ATOM + "title") == "Mercato spostato"
    for required in ("id", "updated"):
        assert entry.findtext(ATOM + required), required
