"""The send end to end with the rate limit off, against a plain client's ceiling."""

from __future__ import annotations

import multiprocessing
import threading
import time

from bench.broadcast.config import PHONE_NUMBER_ID
from bench.broadcast.sending import send
from bench.broadcast.stack import Bench

CEILING_ROWS = 30_000  # at most this many sends measure the plain client, in all


CONFIGURATIONS = ((1, 16), (1, 64), (2, 32), (2, 128), (4, 16), (4, 64))  # processes × threads
SMOKE_CONFIGURATIONS = ((1, 16), (2, 16))


def run(bench: Bench) -> int:
    """Send `sizes.e2e` rows as fast as the workers go; the broadcast's id."""
    rows = bench.sizes.e2e
    bench.audience(rows)
    result = send(bench, "end to end", 0)
    rate = result.rows / result.seconds
    configurations = SMOKE_CONFIGURATIONS if bench.args.smoke else CONFIGURATIONS
    count = min(rows, CEILING_ROWS) // len(configurations)
    ceilings = {shape: plain_client(bench, count, *shape) for shape in configurations}
    (processes, threads), ceiling = max(ceilings.items(), key=lambda item: item[1])
    tried = ", ".join(f"{p}×{t} {r:,.0f}" for (p, t), r in ceilings.items())
    print(f"  plain client, msg/s by processes × threads: {tried}", flush=True)
    bench.report.add(
        f"send end to end, rate limit off ({rows:,} rows)",
        f"{rate:,.0f} msg/s",
        f"best plain client {ceiling:,.0f} msg/s ({processes}×{threads} of {len(ceilings)})",
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


def plain_client(bench: Bench, count: int, processes: int, threads: int) -> float:
    """The ceiling: `count` sends of the same payloads to the same fake by a bare `requests`
    client, `processes` forked processes of `threads` threads with one pooled connection each;
    in msg/s."""
    bench.report.phase(f"plain client, {processes} processes × {threads} threads")
    url = f"{bench.fake.url}/v23.0/{PHONE_NUMBER_ID}/messages"
    context = multiprocessing.get_context("fork")
    share = count // processes
    children = [
        context.Process(target=_plain_sends, args=(url, p * share, share, threads))
        for p in range(processes)
    ]
    started = time.monotonic()
    for child in children:
        child.start()
    for child in children:
        child.join()
    return share * processes / (time.monotonic() - started)


def _plain_sends(url: str, first: int, count: int, threads: int) -> None:
    import requests
    from requests.adapters import HTTPAdapter

    from gateway.backends.cloud import message_payload
    from gateway.types import TextMessage

    counter = iter(range(first, first + count))
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

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
