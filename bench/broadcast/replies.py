"""Keywords: Iscrivimi from new numbers, signed, to gunicorn; the reply's arrival at the fake."""

from __future__ import annotations

import json
import statistics
import time
import uuid

from bench.broadcast.config import APP_SECRET
from bench.broadcast.fake_cloud import TO
from bench.broadcast.stack import Bench
from gateway import sign
from gateway.testing import inbound_text, webhook_body

ARRIVAL_TIMEOUT = 60.0  # seconds to wait for the last reply


def run(bench: Bench, *, during: str = "a broadcast at 80 msg/s") -> None:
    """`sizes.replies` keywords, one every 0.1 s; the latency until each reply reaches nginx."""
    import requests

    bench.report.phase("keywords")
    sent_at: dict[str, float] = {}
    since = time.time()
    session = requests.Session()
    for i in range(bench.sizes.replies):
        phone = f"39399{i:07d}"
        keyword = inbound_text(
            wa_id=phone,
            text="Iscrivimi",
            message_id=f"wamid.in.{i}.{uuid.uuid4().hex[:6]}",
            timestamp=int(time.time()),
            profile_name="Bench",
        )
        body = json.dumps(webhook_body(keyword)).encode()
        sent_at[phone] = time.time()
        answer = session.post(
            bench.webhook_url,
            data=body,
            headers={
                "X-Hub-Signature-256": sign(body, APP_SECRET),
                "Content-Type": "application/json",
            },
            timeout=30,
        )
        if answer.status_code != 200:
            bench.report.problems.append(f"keyword POST answered {answer.status_code}")
        time.sleep(0.1)
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + ARRIVAL_TIMEOUT
    while len(arrived) < len(sent_at) and time.monotonic() < deadline:
        for moment, status, body in bench.fake.entries(since):
            match = TO.search(body)
            if status == 200 and match and match.group(1) in sent_at:
                arrived.setdefault(match.group(1), moment)
    latencies = sorted(arrived[p] - sent_at[p] for p in arrived)
    if len(latencies) != len(sent_at):
        bench.report.problems.append(f"{len(sent_at) - len(latencies)} keyword replies missing")
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        bench.report.add(
            f"keyword → reply, p50 / p99 ({len(latencies)} keywords, during {during})",
            f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms",
            f"fake latency {bench.args.latency * 1000:.0f} ms",
            "",
            "p99 ≤ 1 s",
            ok=p99 <= 1,
        )
