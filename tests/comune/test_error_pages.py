"""Issue 17, point 7: Italian 403, 404 and 500 pages for the public site and the admin, each
with the comune's frame and a way back."""

import pytest
from django.test import Client

from public import views as public_views

pytestmark = pytest.mark.django_db


def test_a_missing_public_page_is_italian_and_leads_home(client, settings):
    settings.COMUNE_NAME = "Comune di Ostiglia"

    response = client.get("/non-esiste/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "Pagina non trovata" in page and "Comune di Ostiglia" in page
    assert '<a class="button" href="/">Torna alla pagina iniziale</a>' in page


def test_a_missing_admin_page_leads_back_to_the_administration(client, editor):
    client.force_login(editor)

    response = client.get("/admin/non-esiste/")

    assert response.status_code == 404
    assert 'href="/admin/">Torna all&#x27;amministrazione</a>' in response.content.decode()


def test_a_page_the_role_may_not_see_is_an_italian_403(client, editor):
    client.force_login(editor)

    response = client.get("/admin/auth/user/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "Accesso non consentito" in page and "Amministratore" in page
    assert 'href="/admin/"' in page


def test_an_expired_form_says_so_in_italian(editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)

    response = client.post("/admin/notifications/", {"email": "on"})

    assert response.status_code == 403
    assert "Il modulo è scaduto" in response.content.decode()


def test_a_failure_is_an_italian_500_with_a_way_back(monkeypatch, settings):
    def broken() -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(public_views.selectors, "regulation_current", broken)

    response = Client(raise_request_exception=False).get("/regolamento/")

    page = response.content.decode()
    assert response.status_code == 500
    assert "Errore del servizio" in page and "the database" not in page
    assert "Torna alla pagina iniziale" in page


def test_the_admin_names_the_comune_and_its_service(admin_client, settings):
    settings.COMUNE_NAME, settings.COMUNE_SERVICE_NAME = "Comune di Ostiglia", "InfOstiglia"

    page = admin_client.get("/admin/").content.decode()

    assert "Comune di Ostiglia · InfOstiglia</a>" in page
    assert "| InfOstiglia — Comune di Ostiglia</title>" in page
    assert "Django" not in page.split("<body")[0]


def test_without_a_service_name_the_admin_says_what_the_service_is(admin_client, settings):
    settings.COMUNE_NAME, settings.COMUNE_SERVICE_NAME = "Comune di Ostiglia", ""

    page = admin_client.get("/admin/").content.decode()

    assert "Comune di Ostiglia · Servizio informativo WhatsApp</a>" in page
