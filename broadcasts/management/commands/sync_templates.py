"""Read the approved WhatsApp templates from the Cloud API into MessageTemplate."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

import gateway
from broadcasts.services.authoring import templates_sync


class Command(BaseCommand):
    help = "Synchronise message templates from the WhatsApp Business Account."

    def handle(self, *args, **options):
        waba_id = settings.WHATSAPP_BUSINESS_ACCOUNT_ID
        if not waba_id:
            raise CommandError(
                "Set WHATSAPP_BUSINESS_ACCOUNT_ID to the account holding the templates."
            )
        try:
            with gateway.get_backend() as backend:
                templates = backend.list_templates(waba_id)
        except gateway.GatewayAPIError as exc:
            raise CommandError(
                f"The Cloud API refused: {exc.error.code} {exc.error.title}"
            ) from exc
        created, updated = templates_sync(templates=templates)
        self.stdout.write(f"{len(templates)} templates: {created} new, {updated} updated.")
