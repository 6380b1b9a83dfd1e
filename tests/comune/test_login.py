"""Issue 13, finding 9 and the sessions and headers of 18: the staff login is throttled and
logged, long passwords only, a second factor for those who see every number, sessions that end."""

import logging
import time

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from roles.models import ADMINISTRATOR, APPROVER, EDITOR, PRIVACY_OFFICER
from tests.factories import authenticator
from tests.factories import log_in as staff_log_in

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-staff-password"
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def client(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def account(username: str, role: str = EDITOR) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def current_code(device: TOTPDevice) -> str:
    """The code the authenticator app shows now."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def log_in(client, username: str, password: str = PASSWORD, ip: str = "203.0.113.7", **extra):
    return client.post(LOGIN, {"username": username, "password": password, **extra}, REMOTE_ADDR=ip)


# --- Lockout and back-off (django-axes) -----------------------------------------------------


def test_a_username_is_locked_after_five_failures_from_any_address(client, settings):
    account("maria")
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "maria", "wrong", ip=f"198.51.100.{attempt}").status_code == 200
    last = log_in(client, "maria", "wrong", ip="198.51.100.50")

    locked = log_in(client, "maria", ip="198.51.100.99")

    assert last.status_code == locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_address_is_locked_after_five_failures_for_any_username(client, settings):
    account("maria")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, f"guess{attempt}", "wrong", ip="198.51.100.1")

    assert log_in(client, "maria", ip="198.51.100.1").status_code == 429
    assert log_in(client, "maria", ip="198.51.100.2").status_code == 302


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_saw(client, settings):
    settings.TRUSTED_PROXY = True
    account("maria")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        # What the client wrote first is not believed; the proxy's own entry comes last.
        client.post(
            LOGIN,
            {"username": f"guess{attempt}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}, 198.51.100.1",
        )

    locked = client.post(
        LOGIN,
        {"username": "maria", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.1",
    )
    other = client.post(
        LOGIN,
        {"username": "maria", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.2",
    )

    assert locked.status_code == 429
    assert other.status_code == 302


def test_a_failed_login_is_logged_at_warning_without_the_password(client, caplog):
    account("maria")

    with caplog.at_level(logging.INFO):
        log_in(client, "maria", "my-secret-guess", ip="198.51.100.7")

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'maria'" in line and "198.51.100.7" in line for line in warnings)
    assert not [r for r in caplog.records if "my-secret-guess" in r.getMessage()]


# --- Passwords --------------------------------------------------------------------------------


def test_a_ten_character_password_is_refused():
    with pytest.raises(ValidationError) as refused:
        validate_password("Zq7#kP2!mW")

    assert "at least 12 characters" in " ".join(refused.value.messages)
    validate_password("Zq7#kP2!mWx9")


# --- The second factor -----------------------------------------------------------------------


@pytest.mark.parametrize("role", [ADMINISTRATOR, PRIVACY_OFFICER])
def test_an_account_that_sees_every_number_must_set_up_a_second_factor(client, role):
    account("dpo", role)

    response = log_in(client, "dpo")
    index = client.get("/admin/")

    assert response.status_code == 302
    assert index.status_code == 302
    assert index["Location"].startswith(reverse("second-factor"))


def test_a_superuser_must_set_up_a_second_factor_too(client):
    User.objects.create_superuser("root", password=PASSWORD)
    log_in(client, "root")

    assert client.get("/admin/")["Location"].startswith(reverse("second-factor"))


@pytest.mark.parametrize("role", [EDITOR, APPROVER])
def test_editors_and_approvers_work_without_one(client, role):
    account("maria", role)
    log_in(client, "maria")

    assert client.get("/admin/").status_code == 200


def test_setting_up_the_authenticator_shows_the_secret_once_and_opens_the_admin(client):
    user = account("dpo", PRIVACY_OFFICER)
    log_in(client, "dpo")

    page = client.get(reverse("second-factor"), {"next": "/admin/"})
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = page.context["secret"]
    right = client.post(
        reverse("second-factor"), {"otp_token": current_code(device), "next": "/admin/"}
    )

    assert 'class="qr"' in page.content.decode() and secret in page.content.decode()
    assert right.status_code == 302 and right["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert TOTPDevice.objects.get(user=user).confirmed
    # Once set up, the page asks for a code and never shows the secret again.
    again = client.get(reverse("second-factor"))
    assert secret not in again.content.decode()
    assert 'class="qr"' not in again.content.decode()


def test_a_wrong_code_while_setting_up_keeps_the_same_secret_on_the_page(client):
    account("dpo", PRIVACY_OFFICER)
    log_in(client, "dpo")
    secret = client.get(reverse("second-factor")).context["secret"]

    wrong = client.post(reverse("second-factor"), {"otp_token": "000000"})

    assert "This code is wrong" in wrong.content.decode()
    assert wrong.context["secret"] == secret
    assert client.get("/admin/").status_code == 302


def test_with_an_authenticator_the_login_asks_for_its_code(client):
    device = authenticator(account("dpo", PRIVACY_OFFICER))

    without = log_in(client, "dpo")
    right = log_in(client, "dpo", otp_token=current_code(device))

    assert without.status_code == 200
    assert "Enter the code your authenticator app shows now" in without.content.decode()
    assert right.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_wrong_code_is_refused_and_logged(client, caplog):
    authenticator(account("dpo", PRIVACY_OFFICER))

    wrong = log_in(client, "dpo", otp_token="000000")

    assert wrong.status_code == 200
    assert "Enter the code your authenticator app shows now" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302
    assert any("wrong second-factor code" in r.getMessage() for r in caplog.records)


def test_an_editor_who_set_one_up_is_asked_for_it_too(client):
    device = authenticator(account("maria"))

    assert log_in(client, "maria").status_code == 200
    assert log_in(client, "maria", otp_token=current_code(device)).status_code == 302


def test_an_administrator_resets_a_lost_authenticator_and_an_editor_cannot(client):
    dpo = account("dpo", PRIVACY_OFFICER)
    device = authenticator(dpo)
    delete = reverse("admin:otp_totp_totpdevice_delete", args=[device.pk])

    staff_log_in(client, account("maria"))
    refused = client.post(delete, {"post": "yes"})
    staff_log_in(client, account("boss", ADMINISTRATOR))
    reset = client.post(delete, {"post": "yes"})

    assert refused.status_code == 403
    assert reset.status_code == 302
    assert not TOTPDevice.objects.filter(user=dpo).exists()


# --- Sessions and headers ---------------------------------------------------------------------


def test_a_session_idle_for_longer_than_the_timeout_is_logged_out(client, settings, monkeypatch):
    account("maria")
    log_in(client, "maria")
    assert client.get("/admin/").status_code == 200

    later = time.time() + settings.SESSION_IDLE_TIMEOUT.total_seconds() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_session_in_use_stays_open(client, settings, monkeypatch):
    account("maria")
    log_in(client, "maria")
    start = time.time()
    for minutes in (20, 40, 60):
        monkeypatch.setattr(time, "time", lambda m=minutes: start + m * 60)
        assert client.get("/admin/").status_code == 200


def test_a_session_lasts_a_working_day_at_most(settings):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600


@pytest.mark.parametrize("path", ["/", "/admin/login/"])
def test_pages_carry_a_content_security_policy_and_a_permissions_policy(client, path):
    response = client.get(path)

    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "camera=()" in response["Permissions-Policy"]


def test_the_admin_pages_carry_them_too(client):
    account("maria")
    log_in(client, "maria")

    response = client.get("/admin/")

    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "style=" not in response.content.decode()
