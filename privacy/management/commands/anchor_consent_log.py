"""Sign the consent log's head and count and keep them outside the database (daily on beat)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from privacy.anchor import NowhereToAnchor, consent_log_anchor


class Command(BaseCommand):
    help = (
        "Sign the consent log's head and count; append the anchor to CONSENT_ANCHOR_PATH "
        "and/or e-mail it to CONSENT_ANCHOR_EMAIL."
    )

    def handle(self, *args, **options):
        try:
            anchor = consent_log_anchor(now=timezone.now())
        except NowhereToAnchor as exc:
            raise CommandError(f"Nowhere to keep the anchor: {exc}.") from exc
        except OSError as exc:
            raise CommandError(f"The anchor was not kept: {exc}.") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Anchored the consent log: {anchor.count} records, head {anchor.head or '-'}."
            )
        )
