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


def test_dates_read_as_italians_write_them():
    import datetime

    from django.utils import formats, translation

    thursday = datetime.datetime(2026, 12, 3, 14, 30)
    with translation.override("it"):
        assert formats.date_format(thursday, "DATE_FORMAT") == "giovedì 3 dicembre 2026"
        assert formats.date_format(thursday) == "giovedì 3 dicembre 2026"
        assert formats.date_format(thursday, "DATETIME_FORMAT") == "giovedì 3 dicembre 2026, 14:30"
    with translation.override("en"):
        assert formats.date_format(thursday, "DATE_FORMAT") == "Dec. 3, 2026"
