"""The send end to end with the rate limit off, against a plain client's ceiling."""

from __future__ import annotations

import threading
import time

from bench.broadcast.config import PHONE_NUMBER_ID
from bench.broadcast.sending import send
from bench.broadcast.stack import Bench

CEILING_ROWS = 30_000  # at most this many sends measure the plain client


def run(bench: Bench) -> int:
    """Send `sizes.e2e` rows as fast as the workers go; the broadcast's id."""
    from django.conf import settings

    rows = bench.sizes.e2e
    bench.audience(rows)
    result = send(bench, "end to end", 0)
    rate = result.rows / result.seconds
    connections = bench.args.concurrency * settings.BROADCAST_SEND_CONCURRENCY
    ceiling = plain_client(bench, min(rows, CEILING_ROWS), connections)
    bench.report.add(
        f"send end to end, rate limit off ({rows:,} rows)",
        f"{rate:,.0f} msg/s",
        f"plain client {ceiling:,.0f} msg/s ({connections} conns)",
        f"{rate / ceiling:.0%}",
        "≥ 1,000 msg/s and ≥ 80 %",
        ok=rate >= 1000 and rate >= 0.8 * ceiling,
    )
    bench.report.add(
        "queries per delivered message",
        f"{result.queries / max(result.sent, 1):.3f}",
        "",
        "",
        "fewer is better",
    )
    return result.broadcast


def plain_client(bench: Bench, count: int, connections: int) -> float:
    """The ceiling: requests, `connections` threads with pooled sessions, same payloads; in
    msg/s."""
    import requests
    from requests.adapters import HTTPAdapter

    from gateway.backends.cloud import message_payload
    from gateway.types import TextMessage

    bench.report.phase(f"plain client, {connections} connections")
    url = f"{bench.fake.url}/v23.0/{PHONE_NUMBER_ID}/messages"
    counter = iter(range(count))
    lock = threading.Lock()

    def work() -> None:
        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
        session.headers["Authorization"] = "Bearer bench-token"
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            message = TextMessage(
                to=f"+39321{i:07d}", body="ceiling: avviso.", callback_data=f"c:{i}"
            )
            session.post(url, json=message_payload(message), timeout=10).json()

    threads = [threading.Thread(target=work) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.monotonic() - started)
