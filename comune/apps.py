from django.apps import AppConfig


class ComuneConfig(AppConfig):
    """The project itself as an app: its deployment checks (comune/checks.py), the idle clock
    of staff sessions (comune/security.py)."""

    name = "comune"
    verbose_name = "InfoComune"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from comune import checks  # noqa: F401 - registers the deployment checks
        from comune.security import session_last_seen_start

        user_logged_in.connect(session_last_seen_start, dispatch_uid="session_last_seen_start")
