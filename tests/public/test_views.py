import pytest
from django.utils import timezone

from public.models import Regulation

pytestmark = pytest.mark.django_db


def test_how_to_subscribe_shows_the_number_a_prefilled_whatsapp_link_and_its_qr_code(
    client, settings, privacy_notice
):
    settings.COMUNE_WHATSAPP_NUMBER = "+39 0376 123456"

    page = client.get("/").content.decode()

    assert "+39 0376 123456" in page
    assert 'href="https://wa.me/390376123456?text=Iscrivimi"' in page
    assert '<svg viewBox="0 0' in page and 'class="qr"' in page
    assert 'href="/informativa-privacy/"' in page


def test_how_to_subscribe_counts_the_active_subscribers(client, send_broadcast):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "<strong>1</strong> citizen already receives them." in page


def test_the_configured_keyword_is_the_one_typed_in_whatsapp(client, settings, privacy_notice):
    settings.KEYWORDS_SUBSCRIBE = ["Attiva", "Iscrivimi"]

    assert "?text=Attiva" in client.get("/").content.decode()


def test_the_archive_lists_sent_public_broadcasts_only_newest_first(client, send_broadcast):
    send_broadcast("Chiusura scuole")
    send_broadcast("Riservato allo staff", is_public=False)
    send_broadcast("Mercato spostato")

    page = client.get("/archivio/").content.decode()

    assert page.index("Mercato spostato") < page.index("Chiusura scuole")
    assert "Riservato allo staff" not in page


def test_the_archive_is_paginated(client, send_broadcast):
    for number in range(12):
        send_broadcast(f"Avviso numero {number}")

    first = client.get("/archivio/").content.decode()
    second = client.get("/archivio/?page=2").content.decode()

    assert "Avviso numero 11" in first and "Avviso numero 1<" not in first
    assert "Avviso numero 0" in second and "Avviso numero 11" not in second
    assert 'href="?page=2"' in first


def test_a_broadcast_of_the_archive_has_its_own_page_with_whatsapp_formatting(
    client, send_broadcast
):
    broadcast = send_broadcast("Acqua", "Acqua sospesa *domani*.")

    page = client.get(f"/archivio/{broadcast.pk}/").content.decode()

    assert "Acqua sospesa <strong>domani</strong>." in page


def test_a_private_broadcast_has_no_public_page(client, send_broadcast):
    broadcast = send_broadcast("Solo staff", is_public=False)

    assert client.get(f"/archivio/{broadcast.pk}/").status_code == 404


def test_the_regulation_page_shows_the_newest_published_version(client):
    Regulation.objects.create(title="Regolamento 2024", body="Vecchio.")
    Regulation.objects.create(title="Regolamento 2025", body="Articolo 1. Finalità.")
    Regulation.objects.create(
        title="Non ancora", body="Futuro.", published_at=timezone.now() + timezone.timedelta(days=1)
    )

    page = client.get("/regolamento/").content.decode()

    assert "Articolo 1. Finalità." in page
    assert "Vecchio." not in page and "Futuro." not in page


def test_without_a_regulation_its_page_is_a_404(client):
    assert client.get("/regolamento/").status_code == 404


def test_every_public_page_has_a_skip_link_and_the_main_menu(client, privacy_notice):
    Regulation.objects.create(title="Regolamento", body="Testo.")
    for url in ("/", "/archivio/", "/regolamento/", "/informativa-privacy/"):
        page = client.get(url).content.decode()
        assert 'href="#main"' in page and '<main id="main"' in page, url
        assert 'aria-current="page"' in page, url
