"""The production entry point: `gunicorn comune.asgi -k asgi`.

Statuses, the bulk of the traffic, are answered by the async fast path in front of Django;
Django serves everything else, its sync views each in a thread of their own. Connections
that belong to a thread would pile up there, so this entry point takes them from a pool."""

import os
import warnings

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comune.settings")
os.environ.setdefault("DATABASE_POOL", "true")
# WhiteNoise answers with a file iterator that Django reads in a thread under ASGI: correct,
# and for the admin's few small files cheap enough, but Django warns about it.
warnings.filterwarnings(
    "ignore", "StreamingHttpResponse must consume synchronous iterators", Warning
)
django_application = get_asgi_application()

from webhooks.fastpath import StatusWebhookFastPath  # noqa: E402 - needs Django set up

application = StatusWebhookFastPath(django_application)
