"""Production refuses to start without its secrets, and passes Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-enough-0123456789abcdef",
    "WHATSAPP_APP_SECRET": "app-secret",
    "WHATSAPP_VERIFY_TOKEN": "verify-token",
    "CONSENT_LOG_KEY": "a-production-consent-log-key",
    "ALLOWED_HOSTS": "info.comune.example.it",
    "SITE_URL": "https://info.comune.example.it",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WHATSAPP_", "DJANGO_", "CONSENT_"))
    }
    clean.update({"ENV_FILE": os.devnull, "DEBUG": "false", "DATABASE_URL": "sqlite://:memory:"})
    clean.pop("SECRET_KEY", None)
    clean.pop("SIMULATOR_ENABLED", None)  # the test settings turn it on
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "CONSENT_LOG_KEY"]
)
def test_production_refuses_to_start_without_a_secret(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = manage("check", **env)

    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_the_cloud_backend_needs_its_token_and_number():
    result = manage("check", **PRODUCTION, WHATSAPP_BACKEND="cloud")

    assert result.returncode != 0
    assert "WHATSAPP_PHONE_NUMBER_ID" in result.stderr


def test_an_unknown_backend_is_named_in_the_error():
    result = manage("check", **PRODUCTION, WHATSAPP_BACKEND="carrier-pigeon")

    assert result.returncode != 0
    assert "WHATSAPP_BACKEND must be one of cloud, console, locmem, dummy" in result.stderr


def test_production_settings_pass_check_deploy():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        WHATSAPP_BACKEND="cloud",
        WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        WHATSAPP_ACCESS_TOKEN="token",
    )

    assert result.returncode == 0, result.stdout + result.stderr


CLOUD = {
    "WHATSAPP_BACKEND": "cloud",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "WHATSAPP_ACCESS_TOKEN": "token",
}


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ({"SIMULATOR_ENABLED": "true"}, "comune.E001"),
        ({"SITE_URL": ""}, "comune.E002"),
        ({"SITE_URL": "http://info.comune.example.it"}, "comune.E002"),
        ({"WHATSAPP_BACKEND": "console"}, "comune.E003"),
        ({"WHATSAPP_BACKEND": "locmem"}, "comune.E003"),
        ({"WHATSAPP_BACKEND": "dummy"}, "comune.E003"),
        ({"WHATSAPP_BACKEND": "simulator.backend.SimulatorBackend"}, "comune.E003"),
    ],
)
def test_check_deploy_fails_a_development_configuration_in_production(bad, error):
    env = {**PRODUCTION, **CLOUD, **bad}
    if bad.get("SITE_URL") == "":
        del env["SITE_URL"]

    result = manage("check", "--deploy", **env)

    assert result.returncode != 0
    assert error in result.stderr


def test_forwarded_headers_are_believed_only_behind_a_trusted_proxy():
    code = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"

    direct = manage("shell", "--no-imports", "-c", code, **PRODUCTION, **CLOUD)
    proxied = manage(
        "shell", "--no-imports", "-c", code, **PRODUCTION, **CLOUD, TRUSTED_PROXY="true"
    )

    assert direct.stdout.strip() == "None"
    assert proxied.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_hsts_preload_is_the_comunes_opt_in():
    code = "from django.conf import settings; print(settings.SECURE_HSTS_PRELOAD)"

    assert (
        manage("shell", "--no-imports", "-c", code, **PRODUCTION, **CLOUD).stdout.strip() == "False"
    )
    opted = manage(
        "shell", "--no-imports", "-c", code, **PRODUCTION, **CLOUD, SECURE_HSTS_PRELOAD="true"
    )
    assert opted.stdout.strip() == "True"
