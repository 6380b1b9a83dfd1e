"""The worker's peak memory while it sends a broadcast: flat, whatever the broadcast's size."""

from __future__ import annotations

from bench.broadcast.sending import Sent, send
from bench.broadcast.stack import Bench


def run(bench: Bench, rows: int, result: Sent | None = None) -> None:
    """Report the peak RSS of `result`, or of a broadcast to `rows` sent now (without --full,
    a large one is cancelled after --large-seconds)."""
    if result is None:
        bench.audience(rows)
        cancel = None if bench.sizes.send_large else bench.args.large_seconds
        result = send(bench, f"rss {rows}", 0, cancel_after=cancel)
    how = "sent" if result.sent >= result.rows else f"{result.sent:,} sent, then cancelled"
    bench.report.add(
        f"worker peak RSS, broadcast of {rows:,} rows ({how})",
        f"{result.rss:.0f} MB",
        "",
        "",
        "≤ 150 MB, flat",
        ok=result.rss <= 150,
    )
