"""Check the consent log; exit non-zero naming every problem found."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from subscribers.consent_log import (
    ConsentAnchor,
    InvalidAnchor,
    consent_anchor_last,
    consent_log_verify,
)


class Command(BaseCommand):
    help = (
        "Verify the consent log: no record altered, removed or reordered, each still bound to "
        "its subscriber's number and its notice's text, each subscriber's status their latest "
        "consent, and nothing lost since the last anchor."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            help="A file of anchors to compare with, such as the e-mailed anchor saved "
            "(default: CONSENT_ANCHOR_PATH).",
        )

    def handle(self, *args, anchor: str | None, **options):
        problems: list[str] = []
        last_anchor = None
        try:
            last_anchor = self._last_anchor(anchor)
        except InvalidAnchor as exc:
            problems.append(f"The anchor cannot be trusted: {exc}.")
        check = consent_log_verify(anchor=last_anchor)
        problems += check.problems
        if problems:
            raise CommandError(
                f"{len(problems)} problem(s) in the consent log:\n" + "\n".join(problems)
            )
        compared = (
            f"; compared with the anchor of {last_anchor.at} ({last_anchor.count} records)"
            if last_anchor
            else ""
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Consent log intact: {check.count} records, head {check.head or '-'}{compared}."
            )
        )

    def _last_anchor(self, given: str | None) -> ConsentAnchor | None:
        path = given or settings.CONSENT_ANCHOR_PATH
        if not path:
            self.stderr.write(
                "No anchor to compare with (set CONSENT_ANCHOR_PATH or pass --anchor): the "
                "removal of the newest records would not show."
            )
            return None
        try:
            anchor = consent_anchor_last(Path(path))
        except FileNotFoundError:
            if given:
                raise CommandError(f"There is no file {path}.") from None
            self.stderr.write(f"No anchor written to {path} yet (anchor_consent_log runs daily).")
            return None
        except OSError as exc:
            raise CommandError(f"Cannot read the anchors in {path}: {exc.strerror}.") from exc
        if anchor is None:
            self.stderr.write(f"No anchor in {path} yet.")
        return anchor
