"""One broadcast sent through the real workers, and checked against the fake's log: every
delivery accepted exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from bench.broadcast.fake_cloud import CALLBACK
from bench.broadcast.processes import peak_rss_mb
from bench.broadcast.stack import Bench

QUERIES_KEY = "bench:queries"  # bench.worker_app.QUERIES_KEY, where the workers count queries


@dataclass(frozen=True)
class Sent:
    rows: int  # deliveries of the broadcast
    sent: int  # of them, accepted by the fake
    seconds: float  # from the approval until every row was sent (or the broadcast cancelled)
    rss: float  # the worker's peak RSS, MB
    queries: int  # SQL statements the workers ran
    times: list[float]  # when each request for a row reached the fake (429s too), sorted
    broadcast: int  # its id
    approved_at: float  # time.time() of the approval
    last_accepted: float | None  # time.time() the fake accepted the last of its rows


def send(
    bench: Bench,
    title: str,
    rate: int,
    *,
    cancel_after: float | None = None,
    emergency: bool = False,
    approved: threading.Event | None = None,
) -> Sent:
    """Approve a broadcast to every active subscriber and wait until every row is sent (or, with
    `cancel_after`, cancel it after that many seconds); check against the fake's log that each
    was accepted exactly once. `approved` is set once it is."""
    import redis

    from broadcasts.lifecycle import broadcast_approve, broadcast_cancel
    from broadcasts.models import Broadcast, Delivery

    bench.report.phase(f"broadcast '{title}' at rate {rate or 'off'}")
    worker = bench.start_worker(rate)
    time.sleep(1 if bench.args.smoke else 3)  # the worker is consuming before the clock starts
    broker = redis.Redis.from_url(bench.redis_url)
    broker.delete(QUERIES_KEY)
    draft = bench.broadcast(title, emergency=emergency)
    approver = bench.users[1]
    since = time.time()
    started = time.monotonic()
    broadcast_approve(broadcast=draft, actor=approver)
    if approved is not None:
        approved.set()
    deadline = started + bench.args.timeout
    cancelled = False
    while time.monotonic() < deadline:
        status = Broadcast.objects.values_list("status", flat=True).get(pk=draft.pk)
        if status == "sent":
            break
        if cancel_after and not cancelled and time.monotonic() - started > cancel_after:
            broadcast_cancel(broadcast=draft, actor=approver)
            cancelled = True
        if status == "cancelled":
            time.sleep(3)  # the ranges in flight end
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    rss = peak_rss_mb(worker.pid)
    queries = int(broker.get(QUERIES_KEY) or 0)
    rows = dict(Delivery.objects.filter(broadcast=draft).values_list("id", "status"))
    # Every request for one of this broadcast's rows: when it arrived, its answer, the row.
    requests = [
        (moment, code, int(match.group(1)))
        for moment, code, body in bench.fake.entries(since)
        for match in [CALLBACK.search(body)]
        if match and int(match.group(1)) in rows
    ]
    accepted = Counter(pk for _, code, pk in requests if code == 200)
    sent = [pk for pk, s in rows.items() if s == "sent"]
    problems = bench.report.problems
    if not cancelled:
        missing = [pk for pk in rows if pk not in accepted]
        if missing or len(sent) != len(rows) or status != "sent":
            problems.append(
                f"{title}: {len(missing)} of {len(rows)} deliveries never reached the fake, "
                f"{len(rows) - len(sent)} not sent, broadcast {status}"
            )
    else:
        lost = [pk for pk in sent if pk not in accepted]
        if lost:
            problems.append(f"{title}: {len(lost)} rows sent but not received")
    duplicated = [pk for pk, n in accepted.items() if n > 1]
    if duplicated:
        problems.append(f"{title}: {len(duplicated)} deliveries sent twice")
    return Sent(
        rows=len(rows),
        sent=len(accepted),
        seconds=elapsed,
        rss=rss,
        queries=queries,
        times=sorted(moment for moment, _, _ in requests),
        broadcast=draft.pk,
        approved_at=since,
        last_accepted=max((moment for moment, code, _ in requests if code == 200), default=None),
    )
