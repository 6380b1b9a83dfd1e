from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from comune.health import healthz
from roles import views as roles_views
from subscribers import views as subscriber_views
from webhooks.views import whatsapp_webhook

urlpatterns = [
    # For the containers' health checks and load balancers: the database and the broker answer.
    path("healthz", healthz, name="healthz"),
    path("admin/second-factor/", roles_views.second_factor, name="second-factor"),
    path("admin/notifications/", roles_views.notifications, name="staff-notifications"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("webhooks/whatsapp/", whatsapp_webhook, name="whatsapp-webhook"),
    path("informativa-privacy/", subscriber_views.privacy_notice, name="privacy-notice"),
    path(
        # path: a version written before versions were checked may hold a "/".
        "informativa-privacy/<path:version>/",
        subscriber_views.privacy_notice,
        name="privacy-notice-version",
    ),
]

urlpatterns += [path("", include("public.urls"))]
if settings.SIMULATOR_ENABLED:
    # A development tool: in production it is not routed at all.
    urlpatterns += [path("simulator/", include("simulator.urls"))]

handler400 = "comune.errors.bad_request"
handler403 = "comune.errors.permission_denied"
handler404 = "comune.errors.page_not_found"
handler500 = "comune.errors.server_error"
