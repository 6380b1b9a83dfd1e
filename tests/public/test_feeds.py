import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = "https://comune.example"


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
    assert items[0].findtext("link").startswith("https://comune.example/archivio/")
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


def test_feeds_link_to_site_url_whatever_host_the_request_names(client, send_broadcast, settings):
    """Issue 13, finding 13: links came from the Host header."""
    settings.ALLOWED_HOSTS = ["*"]
    send_broadcast("Mercato spostato")

    for url in ("/archivio/rss/", "/archivio/atom/"):
        content = client.get(url, HTTP_HOST="evil.example").content.decode()
        assert "evil.example" not in content
        assert "https://comune.example/archivio/" in content


def test_feed_text_is_rendered_markup_with_everything_else_escaped(client, send_broadcast):
    """Issue 13, finding 13: the text went out as HTML, so typed markup became markup."""
    send_broadcast("Avviso", '*Importante* <img src=x onerror="alert(1)"> & <a href="//x">qui</a>')

    channel = ET.fromstring(client.get("/archivio/rss/").content).find("channel")  # noqa: S314
    description = channel.find("item").findtext("description")

    assert description == (
        "<strong>Importante</strong> &lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; "
        "&lt;a href=&quot;//x&quot;&gt;qui&lt;/a&gt;"
    )
