"""Test settings: the project's own, with test-only secrets and the in-memory gateway."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("WHATSAPP_APP_SECRET", "tests-app-secret")
os.environ.setdefault("WHATSAPP_VERIFY_TOKEN", "tests-verify-token")
os.environ.setdefault("CONSENT_LOG_KEY", "tests-consent-log-key")
os.environ["WHATSAPP_BACKEND"] = "locmem"
# The simulator is routed, as in development; a test shows that production leaves it out.
os.environ.setdefault("SIMULATOR_ENABLED", "true")

from comune.settings import *  # noqa: E402,F403

STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
# Serve static files from the apps, as in development: the tests never run collectstatic.
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS = True
# Tests run at any hour: quiet hours are off unless a test turns them on.
BROADCAST_QUIET_HOURS = (datetime.time(0, 0), datetime.time(0, 0))  # noqa: F405
