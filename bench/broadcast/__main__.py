# ruff: noqa: S608 - the benchmark drops and creates its own database
"""`python -m bench.broadcast`: the options, a fresh database, then the run."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from bench import broadcast
from bench.broadcast.config import BENCH_DATABASE, DEFAULT, FULL, SMOKE
from bench.broadcast.fake_cloud import ensure_nginx
from bench.broadcast.runner import PHASES, run
from bench.broadcast.stack import Bench


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.broadcast", description=broadcast.__doc__.split("\n")[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="send the 1,000,000-row broadcast")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, correctness only")
    parser.add_argument("--latency", type=float, default=0.05, help="fake API latency, seconds")
    parser.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        help="fraction of sends the fake answers 429/130429",
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="worker processes (prefork), as README.md"
    )
    parser.add_argument(
        "--send-concurrency",
        type=int,
        default=64,
        help="BROADCAST_SEND_CONCURRENCY: send threads per worker process",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--webhook-connections",
        type=int,
        default=64,
        # Meta posts from many servers across the internet: at 3,000 POST/s and a round trip of
        # 20 ms, that is 60 requests in flight.
        help="status webhooks in flight at once (wrk connections)",
    )
    parser.add_argument(
        "--large-seconds",
        type=float,
        default=20.0,
        help="without --full, the large broadcast is cancelled after this long",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PHASES,
        help="run only this phase (repeatable); statuses are then compared with 3 × the limit",
    )
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    return parser.parse_args(argv)


def bench_database_url() -> str:
    """The benchmark's own database, dropped and created on DATABASE_URL's server."""
    import psycopg

    server = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    if not server.scheme.startswith("postgres"):
        raise SystemExit("the benchmark needs PostgreSQL: set DATABASE_URL=postgres://…")
    maintenance = urlunparse(server._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    return urlunparse(server._replace(path=f"/{BENCH_DATABASE}"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not ensure_nginx():
        return 2
    sizes = SMOKE if args.smoke else FULL if args.full else DEFAULT
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what we started
    os.environ["DATABASE_URL"] = bench_database_url()
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp:
        return run(Bench(args, sizes, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
