"""Make a fresh installation usable: a current privacy notice, a regulation and a staff account."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string

from comune import italian
from public import selectors as public_selectors
from public.services import regulation_publish
from subscribers import selectors
from subscribers.services.consent import privacy_notice_publish


class Command(BaseCommand):
    help = (
        "Ensure a current privacy notice, a published regulation and an administrator: with "
        "ADMIN_PASSWORD, or in development a random password printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        if selectors.privacy_notice_current() is None:
            notice = privacy_notice_publish(
                version="1.0",
                title="Informativa privacy del servizio WhatsApp",
                body=render_to_string("privacy/default_notice.txt", italian.names()).strip(),
            )
            self.stdout.write(f"Published privacy notice {notice.version} (edit it in the admin).")
        if not public_selectors.regulation_any():
            # A starter text, so /regolamento/ is never a 404; the comune adopts its own.
            regulation_publish(
                title="Regolamento del servizio di informazione WhatsApp",
                body=render_to_string("public/default_regulation.txt", italian.names()).strip(),
                adopted_by="Testo iniziale, da sostituire con quello adottato dal Comune",
            )
            self.stdout.write("Published a starter regulation (replace it in the admin).")

        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            return
        password = settings.ADMIN_PASSWORD
        if password:
            # Production: the operator chose it; it is never written anywhere.
            try:
                validate_password(password)
            except ValidationError as error:
                raise CommandError("ADMIN_PASSWORD: " + " ".join(error.messages)) from error
            user_model.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(f"Created administrator '{username}' with ADMIN_PASSWORD.")
        elif settings.DEBUG:
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created administrator '{username}' with password: {password}\n"
                    "It is shown only now; change it in the admin."
                )
            )
        else:
            # A password printed here would stay in the container's logs.
            self.stdout.write(
                "No administrator yet: run `python manage.py createsuperuser`, or set "
                "ADMIN_PASSWORD for this command."
            )
