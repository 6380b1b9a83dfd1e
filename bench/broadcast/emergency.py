"""An emergency to every subscriber at 1,000 msg/s: how long from the approval until Meta has
the last message, and how fast a citizen's keyword is answered meanwhile."""

from __future__ import annotations

import threading
import time

from bench.broadcast import replies
from bench.broadcast.sending import Sent, send
from bench.broadcast.stack import Bench

RATE = 1000  # msg/s, the limit a comune's number reaches at Meta's higher tiers
LEAD_SECONDS = 5  # the emergency is under way before the keywords start


def run(bench: Bench, rows: int) -> None:
    bench.audience(rows)
    approved = threading.Event()
    sent: list[Sent] = []
    sender = threading.Thread(
        target=lambda: sent.append(
            send(bench, "emergency", RATE, emergency=True, approved=approved)
        )
    )
    sender.start()
    approved.wait(timeout=bench.args.timeout)
    time.sleep(LEAD_SECONDS if not bench.args.smoke else 0)
    replies.run(bench, during=f"an emergency to {rows:,} at {RATE:,} msg/s")
    sender.join()
    if not sent or sent[0].last_accepted is None or len(sent[0].times) < 2:
        bench.report.problems.append("emergency: nothing was sent")
        return
    result = sent[0]
    to_last = result.last_accepted - result.approved_at
    at_limit = rows / RATE
    sending = (len(result.times) - 1) / (result.times[-1] - result.times[0])
    bench.report.add(
        f"emergency to {rows:,} at {RATE:,}/s: approval → last send accepted",
        f"{to_last:,.1f} s",
        f"{at_limit:,.0f} s at the limit",
        f"{to_last / at_limit:.0%}",
        f"≤ {at_limit * 1.05:,.0f} s",
        ok=to_last <= at_limit * 1.05,
    )
    bench.report.add(
        f"emergency to {rows:,} at {RATE:,}/s: rate while sending",
        f"{sending:,.1f} msg/s",
        f"limit {RATE:,}",
        f"{sending / RATE:.0%}",
        "≥ 98 %",
        ok=sending >= 0.98 * RATE,
    )
