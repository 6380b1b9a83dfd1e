"""Erase what the retention settings say is past its time; --dry-run only tells what."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from privacy.retention import IdRange, RetentionPlan, retention_apply, retention_plan


def _span(rows: IdRange) -> str:
    return f"{rows.count} (ids {rows.first_id}-{rows.last_id})" if rows.count else "0"


def _id_runs(ids: tuple[int, ...]) -> str:
    """1, 2, 3, 7 → "1-3, 7"."""
    runs: list[list[int]] = []
    for pk in ids:
        if runs and pk == runs[-1][1] + 1:
            runs[-1][1] = pk
        else:
            runs.append([pk, pk])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


class Command(BaseCommand):
    help = (
        "Delete expired inbound messages and delivery rows, pseudonymise the numbers of "
        "citizens unsubscribed for long enough (RETENTION_* settings)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be erased; erase nothing."
        )

    def handle(self, *args, dry_run: bool, **options):
        plan = retention_plan(now=timezone.now())
        self._describe(plan)
        if plan.is_empty:
            self.stdout.write("Nothing is past its retention period.")
            return
        if dry_run:
            self.stdout.write("Dry run: nothing erased.")
            return
        result = retention_apply(plan=plan)
        self.stdout.write(
            f"Erased: {result.inbound_deleted} inbound messages, "
            f"{result.deliveries_deleted} delivery rows; "
            f"pseudonymised {len(result.subscriber_ids)} subscribers."
        )

    def _describe(self, plan: RetentionPlan) -> None:
        write = self.stdout.write
        write(
            f"Inbound messages received before {plan.inbound_before:%Y-%m-%d %H:%M}: "
            f"{_span(plan.inbound)}"
        )
        write(
            f"Delivery rows of broadcasts finished before {plan.deliveries_before:%Y-%m-%d %H:%M}"
            f": {plan.delivery_count}"
        )
        for item in plan.deliveries:
            write(f"  broadcast {item.broadcast_id}: {_span(item.rows)}")
        write(
            f"Numbers of citizens unsubscribed before {plan.unsubscribed_before:%Y-%m-%d %H:%M}: "
            f"{len(plan.subscriber_ids)}"
            + (f" (subscriber ids {_id_runs(plan.subscriber_ids)})" if plan.subscriber_ids else "")
        )
