"""Which phases run, in which order, and the table printed at the end."""

from __future__ import annotations

import threading
import time

from bench.broadcast import emergency, end_to_end, fan_out, rate, replies, rss, statuses
from bench.broadcast.report import machine
from bench.broadcast.sending import send
from bench.broadcast.stack import Bench

# What --only may name.
PHASES = ["rate-80", "end-to-end", "rate-1000", "emergency", "statuses", "fan-out"]


def run(bench: Bench) -> int:
    """Start the stack, run the phases (all, or `--only` those), stop everything, print the
    table; the exit status: 1 when there was a problem."""
    bench.fake.start()
    try:
        bench.setup_django()
        bench.start_web()
        if bench.args.only:
            run_only(bench, bench.args.only)
        else:
            run_all(bench)
    finally:
        bench.stop()
    print()
    print(bench.report.table())
    print(machine(bench.args))
    for problem in bench.report.problems:
        print("PROBLEM:", problem)
    return 1 if bench.report.problems else 0


def run_all(bench: Bench) -> None:
    sizes = bench.sizes
    rate_80_with_keywords(bench)
    small = sizes.rss_small
    bench.audience(small)
    rss.run(bench, small, send(bench, f"rss {small}", 0))
    e2e_broadcast = end_to_end.run(bench)
    send_rate = rate.run(bench, 1000, sizes.e2e)
    statuses.run(bench, e2e_broadcast, send_rate)
    emergency.run(bench, sizes.emergency)
    for rows in sizes.fan_out:
        fan_out.run(bench, rows)
    rss.run(bench, sizes.rss_large)


def rate_80_with_keywords(bench: Bench) -> None:
    """Rate limited at 80/s, with keywords arriving meanwhile."""
    bench.audience(bench.sizes.rate80)
    sender = threading.Thread(target=rate.run, args=(bench, 80, bench.sizes.rate80))
    sender.start()
    time.sleep(8)
    replies.run(bench)
    sender.join()


def run_only(bench: Bench, phases: list[str]) -> None:
    """A few phases alone, to measure one change quickly."""
    if "rate-80" in phases:
        rate_80_with_keywords(bench)
    if "end-to-end" in phases:
        end_to_end.run(bench)
    if "rate-1000" in phases:
        rate.run(bench, 1000, bench.sizes.e2e)
    if "emergency" in phases:
        emergency.run(bench, bench.sizes.emergency)
    if "statuses" in phases:
        rows = bench.sizes.statuses
        bench.audience(rows)
        broadcast = send(bench, "for statuses", 0).broadcast
        # Compared with the limit itself, not the rate achieved under it.
        statuses.run(bench, broadcast, send_rate=1000.0)
    if "fan-out" in phases:
        for rows in bench.sizes.fan_out:
            fan_out.run(bench, rows)
