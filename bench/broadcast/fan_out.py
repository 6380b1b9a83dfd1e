# ruff: noqa: S603, S607, S608 - the benchmark runs psql on its own database
"""The fan-out: `broadcast_fan_out` against the same rows inserted by a bare INSERT … SELECT."""

from __future__ import annotations

import re
import subprocess
import time
from unittest import mock

from bench.broadcast.stack import Bench


def run(bench: Bench, rows: int) -> None:
    """Fan a broadcast out to `rows` subscribers without sending it (sending is measured
    elsewhere), beside psql inserting the same rows."""
    from django.db import connection

    from broadcasts.models import Broadcast, Delivery
    from broadcasts.services import fanout
    from subscribers.models import Subscriber

    bench.audience(rows)
    bench.report.phase(f"fan-out of {rows:,}")
    table = Delivery._meta.db_table
    truncate = f"TRUNCATE {table}"
    with connection.cursor() as cursor:
        cursor.execute(truncate)
    reference_broadcast = bench.broadcast("fan-out reference")
    reference = _psql_seconds(
        f"INSERT INTO {table} (broadcast_id, subscriber_id, status, attempts, "
        f"queued_at, error_title, error_retryable) SELECT {reference_broadcast.pk}, s.id, "
        f"'queued', 0, now(), '', false FROM {Subscriber._meta.db_table} s "
        "WHERE s.status = 'active';"
    )
    with connection.cursor() as cursor:
        cursor.execute(truncate)
    draft = bench.broadcast("fan-out")
    Broadcast.objects.filter(pk=draft.pk).update(status="sending")
    with mock.patch.object(fanout, "deliveries_enqueue_ranges", return_value=0):
        started = time.monotonic()
        created = fanout.broadcast_fan_out(broadcast_id=draft.pk)
        seconds = time.monotonic() - started
    active = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).count()
    if created != active:
        bench.report.problems.append(f"fan-out to {active:,} created {created:,} rows")
    target = "≤ 10 s" if rows >= 1_000_000 else ""
    bench.report.add(
        f"fan-out {rows:,} rows",
        f"{seconds:.2f} s",
        f"psql INSERT … SELECT {reference:.2f} s",
        f"{seconds / reference:.2f}×",
        target,
        ok=(seconds <= 10) if target else None,
    )
    with connection.cursor() as cursor:
        cursor.execute(truncate)


def _psql_seconds(statement: str) -> float:
    """How long psql, on the benchmark's database, takes to run `statement`."""
    from django.db import connection

    db = connection.settings_dict
    out = subprocess.run(
        [
            "psql",
            "-h",
            db["HOST"] or "127.0.0.1",
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"],
            "-d",
            db["NAME"],
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ],
        input=f"\\timing on\n{statement}\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r"Time: ([\d.]+) ms", out).group(1)) / 1000
