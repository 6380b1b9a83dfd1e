"""Issue 13, finding 18: in production `bootstrap` never prints a password into the logs."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from public.models import Regulation

pytestmark = pytest.mark.django_db


def bootstrap() -> str:
    out = io.StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue()


def test_in_production_without_admin_password_no_administrator_is_made(settings):
    settings.DEBUG, settings.ADMIN_PASSWORD = False, ""

    output = bootstrap()

    assert not User.objects.filter(is_superuser=True).exists()
    assert "createsuperuser" in output
    assert "password:" not in output


def test_in_production_the_administrator_gets_admin_password_unprinted(settings):
    settings.DEBUG, settings.ADMIN_PASSWORD = False, "a-chosen-long-password"

    output = bootstrap()

    assert User.objects.get(is_superuser=True).check_password("a-chosen-long-password")
    assert "a-chosen-long-password" not in output


def test_a_short_admin_password_is_refused_with_the_reason(settings):
    settings.DEBUG, settings.ADMIN_PASSWORD = False, "short"

    with pytest.raises(CommandError, match="at least 12 characters"):
        bootstrap()
    assert not User.objects.exists()


def test_in_development_a_random_password_is_printed_once(settings):
    settings.DEBUG, settings.ADMIN_PASSWORD = True, ""

    first, second = bootstrap(), bootstrap()

    assert "Created administrator 'admin' with password:" in first
    assert "password" not in second


def test_bootstrap_publishes_a_starter_regulation_once_so_its_page_is_never_a_404(client, settings):
    settings.COMUNE_NAME, settings.COMUNE_SERVICE_NAME = "Comune di Ostiglia", "InfOstiglia"
    assert client.get("/regolamento/").status_code == 404

    bootstrap()
    bootstrap()

    page = client.get("/regolamento/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "servizio InfOstiglia del Comune di Ostiglia" in text
    assert "all&#x27;Ufficio Relazioni con il Pubblico" in text
    assert Regulation.objects.count() == 1
