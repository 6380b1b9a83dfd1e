"""The rate limit: the rate achieved under it, and the busiest 10 s window against it."""

from __future__ import annotations

from bench.broadcast.sending import send
from bench.broadcast.stack import Bench

WINDOW = 10.0  # seconds


def run(bench: Bench, rate: int, rows: int) -> float:
    """Send `rows` at `rate` msg/s; the rate achieved, in msg/s (1.0 if nothing was sent, so
    that a figure compared with it never divides by zero: the send reported the problem)."""
    bench.audience(rows)
    times = send(bench, f"rate {rate}", rate).times
    busiest, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > WINDOW:
            start += 1
        busiest = max(busiest, end - start + 1)
    span = times[-1] - times[0] if len(times) > 1 else 1.0
    achieved = (len(times) - 1) / span if span else 0.0
    window = min(WINDOW, span)
    overshoot = busiest / (rate * window) - 1 if window else 0.0
    bench.report.add(
        f"rate limit {rate}/s: achieved ({rows:,} rows)",
        f"{achieved:,.1f} msg/s",
        f"limit {rate}",
        f"{achieved / rate:.0%}",
        "≈ limit",
    )
    bench.report.add(
        f"rate limit {rate}/s: busiest {window:.0f} s window",
        f"{busiest:,} msgs",
        f"{rate * window:,.0f}",
        f"{overshoot:+.1%}",
        "≤ +5 %",
        ok=overshoot <= 0.05,
    )
    return achieved if achieved > 0 else 1.0
