"""How the streamed consent-log export scales: time and peak Python heap for CSV and JSON at
growing log sizes. Time should grow with the size; memory should stay flat.

    .venv/bin/python -m bench.export_consent [--sizes 10000 100000] [--smoke]

Runs on PostgreSQL (DATABASE_URL, default the local server) in a database of its own,
`infocomune_bench`, dropped and created again on every run, with the test settings.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse, urlunparse

DEFAULT_SIZES = (10_000, 100_000)
SMOKE_SIZES = (1_000, 5_000)
BENCH_DATABASE = "infocomune_bench"
BATCH = 5_000
WIDTHS = (8, 6, 8, 6, 7, 12)


@dataclass(frozen=True)
class Result:
    size: int
    format: str
    rows: int
    megabytes: float
    seconds: float
    peak_heap_mb: float


def seed(total: int) -> None:
    """Grow the consent log to `total` records (one subscriber each), chained as the service
    chains them, in bulk inserts."""
    # Django is set up by the caller (main, or the test runner): models are imported here.
    from subscribers.consent_log import consent_digest, privacy_notice_hash
    from subscribers.models import ConsentRecord, Subscriber
    from subscribers.selectors import privacy_notice_current
    from subscribers.services.consent import privacy_notice_publish
    from subscribers.services.pseudonyms import subscriber_pseudonym_of

    notice = privacy_notice_current() or privacy_notice_publish(
        version="bench", title="Informativa", body="Testo."
    )
    notice_hash = privacy_notice_hash(notice)
    last = ConsentRecord.objects.order_by("-sequence").first()
    sequence, previous_hash = (last.sequence, last.hash) if last else (0, "")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    while sequence < total:
        numbers = range(sequence + 1, min(sequence + BATCH, total) + 1)
        subscribers = Subscriber.objects.bulk_create(
            Subscriber(phone=f"+39333{n:07d}", status=Subscriber.Status.ACTIVE) for n in numbers
        )
        records = []
        for n, subscriber in zip(numbers, subscribers, strict=True):
            occurred_at = start + timedelta(seconds=n)
            record = ConsentRecord(
                subscriber_id=subscriber.pk,
                action=ConsentRecord.Action.GRANTED,
                channel=ConsentRecord.Channel.WHATSAPP,
                notice=notice,
                occurred_at=occurred_at,
                recorded_at=occurred_at + timedelta(seconds=1),
                evidence={"message_id": f"wamid.bench.{n}", "text": "Iscrivimi"},
                subscriber_pseudonym=subscriber_pseudonym_of(subscriber=subscriber),
                notice_hash=notice_hash,
                sequence=n,
                previous_hash=previous_hash,
            )
            record.hash = previous_hash = consent_digest(record, previous_hash)
            records.append(record)
        ConsentRecord.objects.bulk_create(records)
        sequence = numbers[-1]


def _count_rows(kind: str, pieces: Iterator[str]) -> tuple[int, int]:
    """Rows and characters of an export, read piece by piece as a client would."""
    # CSV: one line per row after the header. JSON: every object starts a line with "{"; the
    # evidence is JSON text, so no raw newline appears inside a row of either.
    marker, offset = ("\n", -1) if kind == "csv" else ("\n{", 0)
    rows = characters = 0
    tail = ""
    for piece in pieces:
        rows += (tail + piece).count(marker) - tail.count(marker)
        characters += len(piece)
        tail = piece[-1:]
    return rows + offset, characters


def measure(size: int, kind: str) -> Result:
    from privacy import exports
    from subscribers import selectors

    writers: dict[str, Callable] = {
        "csv": exports.consent_log_csv,
        "json": exports.consent_log_json,
    }
    started = time.perf_counter()
    rows, characters = _count_rows(kind, writers[kind](selectors.consent_record_list()))
    seconds = time.perf_counter() - started
    # A second pass under tracemalloc, which slows Python down: its time is not the one shown.
    tracemalloc.start()
    _count_rows(kind, writers[kind](selectors.consent_record_list()))
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Result(size, kind, rows, characters / 1e6, seconds, peak / 1e6)


def run(sizes: Sequence[int]) -> list[Result]:
    """Seed up to each size in turn and export the whole log in each format."""
    results = []
    for size in sorted(sizes):
        seed(size)
        results.extend(measure(size, kind) for kind in ("csv", "json"))
    return results


def table(results: list[Result]) -> str:
    header = ("records", "format", "rows", "MB out", "seconds", "peak heap MB")
    lines = [" ".join(f"{name:>{width}}" for name, width in zip(header, WIDTHS, strict=True))]
    lines += [
        f"{r.size:>8} {r.format:>6} {r.rows:>8} {r.megabytes:>6.1f} {r.seconds:>7.2f} "
        f"{r.peak_heap_mb:>12.2f}"
        for r in results
    ]
    smallest, largest = min(r.size for r in results), max(r.size for r in results)
    for kind in ("csv", "json"):
        small = next(r for r in results if r.size == smallest and r.format == kind)
        large = next(r for r in results if r.size == largest and r.format == kind)
        lines.append(
            f"{kind}: {largest}/{smallest} records = {largest / smallest:.0f}x; "
            f"time {large.seconds / small.seconds:.1f}x, "
            f"peak heap {large.peak_heap_mb / small.peak_heap_mb:.2f}x"
        )
    return "\n".join(lines)


def _bench_database_url() -> str:
    """A fresh, empty PostgreSQL database on the server DATABASE_URL names."""
    import psycopg

    server = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    if server.scheme not in ("postgres", "postgresql"):
        raise SystemExit("the benchmark needs PostgreSQL: set DATABASE_URL=postgres://…")
    maintenance = urlunparse(server._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
        connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    return urlunparse(server._replace(path=f"/{BENCH_DATABASE}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--smoke", action="store_true", help=f"sizes {SMOKE_SIZES}")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = _bench_database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    print(table(run(SMOKE_SIZES if args.smoke else args.sizes)))


if __name__ == "__main__":
    main()
