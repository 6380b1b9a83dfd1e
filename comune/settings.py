"""InfoComune settings, read from the environment (django-environ).

The defaults give a working local product with no service at all: SQLite, Celery tasks run
in-process, the console gateway. Production (DEBUG off) refuses to start without its secrets.
"""

import datetime
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from gateway import BACKEND_ALIASES

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env (written by bin/run with random secrets, never committed) fills what the
# environment leaves unset; real environment variables always win.
ENV_FILE = Path(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    environ.Env.read_env(ENV_FILE)

DEBUG = env.bool("DEBUG", default=False)


def _secret(name: str) -> str:
    """A secret from the environment: required in production, empty allowed while developing."""
    value = env.str(name, default="")
    if not value and not DEBUG:
        raise ImproperlyConfigured(f"Set the {name} environment variable (DEBUG is off).")
    return value


SECRET_KEY = _secret("SECRET_KEY") or "insecure-local-development-key-only-used-when-debug-is-on"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# An expired form gets the Italian page with a way back, not Django's technical one.
CSRF_FAILURE_VIEW = "comune.errors.csrf_failure"
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "import_export",
    "subscribers",
    "broadcasts",
    "webhooks",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "comune.security.IdleSessionTimeoutMiddleware",
    "roles.middleware.SecondFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "comune.security.SecurityHeadersMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "comune.urls"
WSGI_APPLICATION = "comune.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "comune.context_processors.comune",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue instead of failing with "database is locked" under the threaded dev server.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
elif env.bool("DATABASE_POOL", default=False):
    # Set by the ASGI entry point: a process-wide pool instead of a connection per thread.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "it"
LANGUAGES = [("it", _("Italian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["comune.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Rome")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Production hardening (manage.py check --deploy passes with DEBUG off) ---
# Only a reverse proxy that sets X-Forwarded-Proto and X-Forwarded-For (and overwrites what
# clients send) may be believed: say so with TRUSTED_PROXY, and let gunicorn listen only to it.
TRUSTED_PROXY = env.bool("TRUSTED_PROXY", default=False)
if TRUSTED_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# The container's own health check asks gunicorn for /healthz over plain http (comune.health).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# Preloading is hard to undo (browsers ship the list): an opt-in of the comune's.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Django warns while preload is off; here that is the comune's decision, not an oversight.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent on every answer by comune.security.SecurityHeadersMiddleware: no inline script or style,
# nothing from another origin, no camera, microphone or location.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)

# --- Login protection: lockout, second factor, sessions ---
INSTALLED_APPS += ["comune", "axes", "django_otp", "django_otp.plugins.otp_totp"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# After LOGIN_FAILURE_LIMIT failures a username is locked (from any address), and so is an
# address (for any username), for LOGIN_LOCKOUT_MINUTES; every try while locked starts the
# wait again (axes' default), so a guesser backs off or stays out. Administrators unlock in the
# admin (Access attempts).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "comune.security.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# A second factor (TOTP) is required of Administrators, the Privacy officer and superusers.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="InfoComune")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# A staff session ends after SESSION_HOURS, or after SESSION_IDLE_MINUTES without a request.
SESSION_COOKIE_AGE = env.int("SESSION_HOURS", default=8) * 3600
SESSION_IDLE_TIMEOUT = datetime.timedelta(minutes=env.int("SESSION_IDLE_MINUTES", default=30))
# The first administrator's password for `manage.py bootstrap` in production (never printed).
ADMIN_PASSWORD = env.str("ADMIN_PASSWORD", default="")

# --- Celery: a real broker when REDIS_URL is set, otherwise tasks run in-process ---
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# Workers and beat log through LOGGING below, whose formatter masks phone numbers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# In-process tasks behave like queued ones: a failing task is logged, not raised into the
# request that scheduled it, and retries run (at once) instead of raising Retry.
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Longer than the longest task, so that acks_late tasks are not redelivered while running.
# A key prefix lets several installations (or test runs) share one Redis without mixing tasks.
REDIS_KEY_PREFIX = env.str("CELERY_KEY_PREFIX", default="")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "global_keyprefix": REDIS_KEY_PREFIX,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --- The WhatsApp gateway (shaped like CACHES/STORAGES; the backend alias comes from the env) ---
# The simulator (/simulator/) plays a citizen's phone: a development tool, absent in production.
SIMULATOR_ENABLED = env.bool("SIMULATOR_ENABLED", default=DEBUG)
# An alias, or the dotted path of a backend class (such as the simulator's, which lives in an app
# because it stores what it "sends" and the gateway never touches the ORM).
SIMULATOR_BACKEND = "simulator.backend.SimulatorBackend"
WHATSAPP_BACKEND = env.str(
    "WHATSAPP_BACKEND", default=SIMULATOR_BACKEND if SIMULATOR_ENABLED else "console"
)
if WHATSAPP_BACKEND not in BACKEND_ALIASES and "." not in WHATSAPP_BACKEND:
    raise ImproperlyConfigured(
        f"WHATSAPP_BACKEND must be one of {', '.join(BACKEND_ALIASES)}, not {WHATSAPP_BACKEND!r}."
    )
WHATSAPP_APP_SECRET = _secret("WHATSAPP_APP_SECRET")
WHATSAPP_VERIFY_TOKEN = _secret("WHATSAPP_VERIFY_TOKEN")
# The comune's number at Meta. Webhooks naming another number of the business account (the
# library's, the tourist office's) are ignored; empty (the console, the simulator): none is.
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
_cloud_options = {}
if WHATSAPP_BACKEND == "cloud":
    if not WHATSAPP_PHONE_NUMBER_ID:
        raise ImproperlyConfigured("WHATSAPP_PHONE_NUMBER_ID is required with the cloud backend.")
    _cloud_options = {
        "api_url": env.str("WHATSAPP_API_URL", default="https://graph.facebook.com"),
        "api_version": env.str("WHATSAPP_API_VERSION", default="v23.0"),
        "phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
        "access_token": env.str("WHATSAPP_ACCESS_TOKEN"),
    }
WHATSAPP_GATEWAY = {
    "BACKEND": BACKEND_ALIASES.get(WHATSAPP_BACKEND, WHATSAPP_BACKEND),
    "OPTIONS": _cloud_options,
}
WHATSAPP_BUSINESS_ACCOUNT_ID = env.str("WHATSAPP_BUSINESS_ACCOUNT_ID", default="")
WHATSAPP_RATE_PER_SECOND = env.int("WHATSAPP_RATE_PER_SECOND", default=80)
# Meta batches up to 1,000 updates in a POST; a few hundred KB at most. Anything far larger is
# not Meta and is refused before its signature is even computed.
WHATSAPP_WEBHOOK_MAX_BYTES = env.int("WHATSAPP_WEBHOOK_MAX_BYTES", default=3 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, WHATSAPP_WEBHOOK_MAX_BYTES)
# --- The webhook's limits (webhooks.fastpath, webhooks.views; deploy/nginx.conf in front) ---
# A body carrying only statuses is a few KB (one status, mostly): a larger one is refused (413)
# rather than buffered, where the drain would read a thousand of them at a time.
WHATSAPP_STATUS_WEBHOOK_MAX_BYTES = env.int("WHATSAPP_STATUS_WEBHOOK_MAX_BYTES", default=64 * 1024)
# A body not received within this many seconds is answered 408 (Meta sends it at once).
WHATSAPP_WEBHOOK_BODY_TIMEOUT_SECONDS = env.float(
    "WHATSAPP_WEBHOOK_BODY_TIMEOUT_SECONDS", default=10.0
)
# Webhook bodies read at once by one web process (each up to WHATSAPP_WEBHOOK_MAX_BYTES in
# memory); one more is answered 503 with Retry-After, and Meta sends it again.
WHATSAPP_WEBHOOK_MAX_READING = env.int("WHATSAPP_WEBHOOK_MAX_READING", default=64)

# --- The comune and its service ---
COMUNE_NAME = env.str("COMUNE_NAME", default="Comune di Esempio")
COMUNE_SERVICE_NAME = env.str("COMUNE_SERVICE_NAME", default="")
COMUNE_WHATSAPP_NUMBER = env.str("COMUNE_WHATSAPP_NUMBER", default="+390000000000")
# Where citizens send reports and questions, since this channel does not take them.
COMUNE_REPORTS_CONTACT = env.str(
    "COMUNE_REPORTS_CONTACT", default="l'Ufficio Relazioni con il Pubblico (URP) del Comune"
)
# Numbers written without a country code are read as this region's (phonenumbers' region code).
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="IT")
# Keywords are Italian first; each list may be replaced from the environment (comma-separated).
KEYWORDS_SUBSCRIBE = env.list("KEYWORDS_SUBSCRIBE", default=[])
KEYWORDS_UNSUBSCRIBE = env.list("KEYWORDS_UNSUBSCRIBE", default=[])
KEYWORDS_HELP = env.list("KEYWORDS_HELP", default=[])
# The one-way notice ("this channel only sends information") goes at most this often per number.
ONE_WAY_NOTICE_INTERVAL_HOURS = env.int("ONE_WAY_NOTICE_INTERVAL_HOURS", default=24)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "comune.logging.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # roles.receivers logs failed logins and lockouts; axes' own INFO lines are noise.
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Broadcasts ---
# Four eyes: the approver is not the author. A one-person office may turn this off.
BROADCAST_FOUR_EYES = env.bool("BROADCAST_FOUR_EYES", default=True)
# Normal broadcasts wait for the morning between these local times; emergencies go at once.
BROADCAST_QUIET_HOURS = tuple(
    datetime.time.fromisoformat(t)
    for t in env.list("BROADCAST_QUIET_HOURS", default=["21:00", "08:00"])
)
# Messages in flight per worker process: enough to cover rate × Meta's latency (1,000/s × 50 ms).
BROADCAST_SEND_CONCURRENCY = env.int("BROADCAST_SEND_CONCURRENCY", default=64)
BROADCAST_FAN_OUT_SLICE = env.int("BROADCAST_FAN_OUT_SLICE", default=100_000)
BROADCAST_RETRY_BASE_SECONDS = env.float("BROADCAST_RETRY_BASE_SECONDS", default=5.0)
# How long every worker holds back after Meta answers 130429 (throughput exceeded).
BROADCAST_RATE_LIMITED_PAUSE_SECONDS = env.float(
    "BROADCAST_RATE_LIMITED_PAUSE_SECONDS", default=1.0
)
# Meta's messaging limit: unique citizens reached in a moving 24 hours (250 for a new number,
# then 2,000, 10,000, 100,000; 0 = unlimited). Delivery spreads the rest over the next window.
WHATSAPP_MESSAGING_LIMIT = env.int("WHATSAPP_MESSAGING_LIMIT", default=0)
BROADCAST_MESSAGING_LIMIT_RETRY_SECONDS = env.float(
    "BROADCAST_MESSAGING_LIMIT_RETRY_SECONDS", default=900.0
)
# Meta's per-citizen marketing cap (131049): the row is tried again no sooner than a day later,
# at most this many times in all its attempts; then it fails, retryable by staff.
BROADCAST_MARKETING_LIMIT_RETRIES = env.int("BROADCAST_MARKETING_LIMIT_RETRIES", default=3)
# Recovery. A sending broadcast whose queued rows nobody claimed for this long lost its tasks
# (a broker restart): the sweep queues them again.
BROADCAST_STALLED_AFTER = datetime.timedelta(
    seconds=env.int("BROADCAST_STALLED_AFTER_SECONDS", default=30)
)
# A row claimed this long ago and still `sending` lost its worker: the reaper queues it again if
# it never left, else marks its outcome unknown. Longer than one run of a range task (about a
# second of sending, plus the HTTP timeout).
BROADCAST_STUCK_AFTER = datetime.timedelta(
    seconds=env.int("BROADCAST_STUCK_AFTER_SECONDS", default=30)
)
# How long a worker keeps trying to write the outcomes of its sends while the database is down.
BROADCAST_OUTCOME_WRITE_SECONDS = env.float("BROADCAST_OUTCOME_WRITE_SECONDS", default=60.0)
# How often beat (or run_scheduler) runs the reaper, the stall sweep and the status sweep.
RECOVERY_SWEEP_SECONDS = env.float("RECOVERY_SWEEP_SECONDS", default=10.0)
# A test sends unapproved text from the comune's number: at most this many per user an hour,
# and only to the staff test numbers an Administrator lists.
BROADCAST_TEST_SENDS_PER_HOUR = env.int("BROADCAST_TEST_SENDS_PER_HOUR", default=10)
# Whether editors (not only approvers) see a delivery report's per-recipient rows (masked).
BROADCAST_REPORT_ROWS_FOR_EDITORS = env.bool("BROADCAST_REPORT_ROWS_FOR_EDITORS", default=False)

# --- E-mail to staff (notifications; the console in development) ---
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="infocomune@localhost")

# --- Citizens' pages, the staff dashboard on the admin's index, the simulator ---
INSTALLED_APPS += ["public", "dashboard", "simulator"]

# --- Staff roles (groups) and the privacy officer's permissions ---
INSTALLED_APPS += ["roles"]

# --- Retention, in days (`manage.py apply_retention`, daily on beat) ---
# Meta redelivers a webhook for up to a week: an inbound message forgotten sooner could be
# handled twice (a redelivered Iscrivimi would subscribe again).
RETENTION_INBOUND_MIN_DAYS = 7
RETENTION_INBOUND_DAYS = env.int("RETENTION_INBOUND_DAYS", default=30)
# Per-recipient delivery rows of a finished broadcast; its counts are kept.
RETENTION_DELIVERY_DAYS = env.int("RETENTION_DELIVERY_DAYS", default=180)
# The number of a citizen who unsubscribed; then only a keyed hash of it is kept.
RETENTION_UNSUBSCRIBED_DAYS = env.int("RETENTION_UNSUBSCRIBED_DAYS", default=30)
if RETENTION_INBOUND_DAYS < RETENTION_INBOUND_MIN_DAYS:
    raise ImproperlyConfigured(
        f"RETENTION_INBOUND_DAYS must be at least {RETENTION_INBOUND_MIN_DAYS}: "
        "Meta redelivers webhooks for up to a week."
    )
if RETENTION_DELIVERY_DAYS < 0 or RETENTION_UNSUBSCRIBED_DAYS < 0:
    raise ImproperlyConfigured("Retention periods cannot be negative.")

# --- The consent log's proof (`manage.py verify_consent_log`, `anchor_consent_log` daily) ---
# The HMAC key of the consent chain: never in the database, so whoever holds only the database
# cannot rewrite the chain. Keep it like SECRET_KEY; changing it makes every record fail.
CONSENT_LOG_KEY = (
    _secret("CONSENT_LOG_KEY") or "insecure-local-consent-log-key-only-used-when-debug-is-on"
)
# Where the daily signed anchor (head and count of the chain) goes, outside the database: a file
# the application may only append to (e.g. on another machine's share), and/or the DPO's e-mail.
CONSENT_ANCHOR_PATH = env.str("CONSENT_ANCHOR_PATH", default="")
CONSENT_ANCHOR_EMAIL = env.list("CONSENT_ANCHOR_EMAIL", default=[])
