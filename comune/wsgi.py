import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comune.settings")
django_application = get_wsgi_application()

from comune.webhooks import StatusWebhookFastPath  # noqa: E402 - needs Django set up

application = StatusWebhookFastPath(django_application)
