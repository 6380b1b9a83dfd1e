# ruff: noqa: S603, S607 - the benchmark runs its own tools
"""Status webhooks: sent, delivered and read for each message, one signed POST each, pushed by
wrk into gunicorn; then how long until the rows show them."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from bench.broadcast.config import APP_SECRET
from bench.broadcast.processes import ensure_tool
from bench.broadcast.stack import Bench
from gateway import sign
from gateway.testing import status_update, statuses_value, webhook_body

WRK_SCRIPT = Path(__file__).with_name("statuses.lua")
VISIBLE_WITHIN = 60.0  # seconds the rows may take to show the last status before it is a problem


def run(bench: Bench, broadcast_id: int, send_rate: float) -> None:
    """Post the statuses of `sizes.statuses` sent rows of `broadcast_id`; Meta's capacity
    target is 3 status webhooks per message sent, so the ingest is compared with 3 × `send_rate`.
    """
    from broadcasts.models import Delivery

    if not ensure_tool("wrk", ["wrk"]):
        bench.report.add("status-webhook ingest", "skipped: wrk missing")
        return
    rows = list(
        Delivery.objects.filter(broadcast_id=broadcast_id, status="sent")
        .select_related("subscriber")
        .order_by("id")
        .values_list("id", "wamid", "subscriber__phone")[: bench.sizes.statuses]
    )
    bench.report.phase("status webhooks")
    data = bench.workdir / "statuses.txt"
    bodies = _signed_bodies(rows)
    data.write_text("\n".join(bodies) + "\n")
    script = bench.workdir / "statuses.lua"
    result = bench.workdir / "statuses.result"
    script.write_text(
        WRK_SCRIPT.read_text().replace("@DATA@", str(data)).replace("@RESULT@", str(result))
    )
    connections = bench.args.webhook_connections
    started = time.monotonic()
    subprocess.run(
        ["wrk", "-t1", f"-c{connections}", "-d600s", "-s", str(script), bench.webhook_url],
        capture_output=True,
        text=True,
        check=False,
    )
    posted = time.monotonic()
    seconds = posted - started
    answered, bad = map(int, result.read_text().split()) if result.exists() else (0, -1)
    if bad or answered < len(bodies):
        bench.report.problems.append(f"status webhooks: {bad} answers not 200 of {answered}")
    per_second = len(bodies) / seconds
    ids = [pk for pk, _, _ in rows]
    while time.monotonic() - posted < VISIBLE_WITHIN:
        if Delivery.objects.filter(pk__in=ids, status="read").count() == len(rows):
            break
        time.sleep(0.05)
    else:
        bench.report.problems.append("statuses not all visible after 60 s")
    visible = time.monotonic() - posted
    bench.report.add(
        f"status-webhook ingest ({len(bodies):,} signed POSTs, "
        f"{connections} in flight, gunicorn {bench.args.web_workers} workers)",
        f"{per_second:,.0f} POST/s",
        f"3 × send rate {send_rate:,.0f} = {3 * send_rate:,.0f}",
        f"{per_second / (3 * send_rate):.0%}",
        "≥ 100 %",
        ok=per_second >= 3 * send_rate,
    )
    bench.report.add(
        "statuses visible after the last POST",
        f"{visible:.2f} s",
        "",
        "",
        "≤ 5 s",
        ok=visible <= 5,
    )


def _signed_bodies(rows: list[tuple[int, str, str]]) -> list[str]:
    """wrk's data: one line per POST, its signature, a tab and the compact body; every row's
    sent, then every row's delivered, then every row's read, a second apart."""
    now = int(time.time())
    lines = []
    for step, status in enumerate(("sent", "delivered", "read")):
        for pk, wamid, phone in rows:
            update = status_update(
                wamid=wamid,
                status=status,
                timestamp=now + step,
                recipient_id=phone[1:],
                callback_data=f"d:{pk}",
            )
            body = json.dumps(webhook_body(statuses_value(update)), separators=(",", ":"))
            lines.append(f"{sign(body.encode(), APP_SECRET)}\t{body}")
    return lines
