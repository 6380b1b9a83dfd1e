import pytest

pytestmark = pytest.mark.django_db


def test_the_interface_is_italian_by_default(client):
    page = client.get("/admin/login/").content.decode()
    assert "Nome utente" in page


def test_english_is_available(client):
    page = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Username" in page


def test_our_own_strings_are_translated(client):
    from subscribers.services.consent import privacy_notice_publish

    privacy_notice_publish(version="1.0", title="Informativa", body="Testo.")
    page = client.get("/informativa-privacy/").content.decode()
    assert "Versione 1.0" in page


def test_the_login_and_the_second_factor_speak_italian(client):
    from django.contrib.auth.models import User

    login = client.get("/admin/login/").content.decode()
    client.force_login(User.objects.create_superuser("dpo", password=None))
    setup = client.get("/admin/second-factor/").content.decode()

    assert "Codice di verifica" in login
    assert "Configura un'app di autenticazione" in setup
