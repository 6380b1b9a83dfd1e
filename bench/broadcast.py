# ruff: noqa: S105, S603, S607, S608 - the benchmark runs its own tools on its own database
"""End-to-end broadcast benchmark: is the product ever what limits the send?

    .venv/bin/python -m bench.broadcast            # default sizes, ~5 minutes
    .venv/bin/python -m bench.broadcast --full     # 1,000,000 rows sent for the RSS figure
    .venv/bin/python -m bench.broadcast --smoke    # correctness only, seconds (CI)

Runs on PostgreSQL (DATABASE_URL's server, database `infocomune_bench_broadcast`, dropped and
created on every run) and Redis (BENCH_REDIS_URL, default db 14, keys under a fresh prefix), with
real Celery worker processes (`celery -A bench.worker_app`, the product's app plus a query counter)
and gunicorn, against nginx as the fake Cloud API (echo module for the latency, split_clients for
error injection; its access log records every request body and when it arrived). Each figure is
printed beside a reference measured in the same run, and its target. Exits non-zero when a
delivery is missing or duplicated.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BENCH_DATABASE = "infocomune_bench_broadcast"
APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "106540352242922"
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")


@dataclass(frozen=True)
class Sizes:
    rate80: int  # rows sent at 80 msg/s
    rss_small: int  # rows of the small broadcast (its worker's RSS)
    e2e: int  # rows sent with the rate limit off, then at 1,000 msg/s
    fan_out: tuple[int, ...]
    rss_large: int  # rows of the large broadcast
    send_large: bool  # send all of the large broadcast, or cancel it after `large_seconds`
    statuses: int  # messages whose three statuses are posted
    replies: int


SMOKE = Sizes(200, 1_000, 2_000, (5_000,), 5_000, True, 300, 10)
DEFAULT = Sizes(2_400, 10_000, 50_000, (100_000, 1_000_000), 1_000_000, False, 10_000, 100)
FULL = Sizes(2_400, 10_000, 100_000, (100_000, 1_000_000), 1_000_000, True, 10_000, 200)


@dataclass
class Row:
    what: str
    value: str
    reference: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def phase(self, what: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {what} …", flush=True)

    def add(self, *args, **kwargs) -> None:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        print(f"  {row.what}: {row.value}  [{row.reference} {row.ratio}]  {row.target}", flush=True)

    def table(self) -> str:
        head = ("figure", "measured", "reference (same run)", "ratio", "target", "")
        lines = [head] + [
            (
                r.what,
                r.value,
                r.reference,
                r.ratio,
                r.target,
                {True: "ok", False: "MISSED"}.get(r.ok, ""),
            )
            for r in self.rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(6)]
        out = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
        ]
        out.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(out)


# --- The fake Cloud API: nginx ------------------------------------------------------------------


def ensure_tool(binary: str, packages: list[str]) -> bool:
    """Install Debian packages when missing and we are root; False (with a message) otherwise."""
    if shutil.which(binary) and (binary != "nginx" or ECHO_MODULE.exists()):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {' '.join(packages)} …", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *packages],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
    found = bool(shutil.which(binary)) and (binary != "nginx" or ECHO_MODULE.exists())
    if not found:
        print(f"{binary} is missing (apt-get install {' '.join(packages)}): skipping what needs it")
    return found


class FakeNginx:
    """Answers every POST …/messages with a unique wamid after `latency` seconds, except a
    fraction `error_rate` answered 429/130429 at once; logs arrival time, status and body."""

    def __init__(self, workdir: Path, port: int, latency: float, error_rate: float) -> None:
        self.dir = workdir / "nginx"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.log = self.dir / "requests.log"
        inject = ""
        answer_error = ""
        if error_rate > 0:
            inject = (
                f'split_clients "${{request_id}}" $inject {{ {error_rate * 100:g}% "1"; * ""; }}'
            )
            answer_error = (
                "if ($inject) { return 429 "
                '\'{"error":{"message":"(#130429) Rate limit hit","code":130429}}\'; }'
            )
        sleep = f"echo_sleep {latency:g};" if latency > 0 else ""
        user = "user root root;" if os.geteuid() == 0 else ""
        (self.dir / "nginx.conf").write_text(f"""
{user}
load_module {ECHO_MODULE};
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  client_body_buffer_size 64k;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  log_format fake escape=json '$msec $status $request_body';
  {inject}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location ~ /messages$ {{
      access_log {self.log} fake buffer=256k flush=1s;
      default_type application/json;
      {answer_error}
      echo_read_request_body;
      {sleep}
      echo '{{"messaging_product":"whatsapp","messages":[{{"id":"wamid.$request_id"}}]}}';
    }}
  }}
}}
""")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "nginx",
                "-p",
                str(self.dir),
                "-c",
                str(self.dir / "nginx.conf"),
                "-e",
                str(self.dir / "error.log"),
            ],
            start_new_session=True,
        )
        wait_port(self.port)

    def flush(self) -> None:
        """Reopening the logs writes out nginx's buffered log lines."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGUSR1)
            time.sleep(0.5)

    def entries(self, since: float = 0.0) -> list[tuple[float, int, str]]:
        """(arrival, status, body) of every request logged at or after `since`."""
        self.flush()
        out = []
        if not self.log.exists():
            return out
        with self.log.open() as log:
            for line in log:
                moment, status, body = (line.rstrip("\n").split(" ", 2) + ["", ""])[:3]
                if float(moment) >= since:
                    out.append((float(moment), int(status), body.replace('\\"', '"')))
        return out

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)


CALLBACK = re.compile(r'"biz_opaque_callback_data":\s*"d:(\d+)"')
TO = re.compile(r'"to":\s*"\+?(\d+)"')


# --- Processes --------------------------------------------------------------------------------


def wait_port(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout:.0f} s")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("a")
        process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def peak_rss_mb(pid: int) -> float:
    """The largest VmHWM (peak resident set) of the process and its children."""
    peaks = []
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return max(peaks, default=0.0)


# --- The benchmark ----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, sizes: Sizes, workdir: Path) -> None:
        self.args = args
        self.sizes = sizes
        self.workdir = workdir
        self.report = Report()
        self.processes = Processes(workdir)
        self.fake = FakeNginx(workdir, free_port(), args.latency, args.error_rate)
        self.redis_url = args.redis_url
        self.key_prefix = f"bench-{uuid.uuid4().hex[:10]}:"
        self.web_port = free_port()
        self.next_phone = 0

    # Environment

    def env(self, rate: int) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_"))}
        return {
            **keep,
            "DJANGO_SETTINGS_MODULE": "comune.settings",
            "ENV_FILE": os.devnull,
            "SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "REDIS_URL": self.redis_url,
            "CELERY_KEY_PREFIX": self.key_prefix,
            "WHATSAPP_BACKEND": "cloud",
            "WHATSAPP_API_URL": self.fake.url,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WHATSAPP_ACCESS_TOKEN": "bench-token",
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": "bench-verify",
            "WHATSAPP_RATE_PER_SECOND": str(rate),
            "BROADCAST_QUIET_HOURS": "00:00,00:00",
            "BROADCAST_RETRY_BASE_SECONDS": "0.5",
            # In flight must cover rate × latency: 1,000 msg/s × 50 ms needs 50 at least.
            "BROADCAST_SEND_CONCURRENCY": str(self.args.send_concurrency),
            "LOG_LEVEL": "WARNING",
        }

    def start_worker(self, rate: int) -> subprocess.Popen:
        """The deployment README.md recommends: a worker for every queue, and one more serving
        only emergencies and replies, so a keyword's answer never queues behind a broadcast."""
        self.processes.stop("worker")
        self.processes.stop("priority")
        self.processes.start(
            "priority", self._worker_command("emergency,replies", concurrency=1), self.env(rate)
        )
        return self.processes.start(
            "worker",
            self._worker_command("emergency,replies,default", self.args.concurrency),
            self.env(rate),
        )

    def _worker_command(self, queues: str, concurrency: int) -> list[str]:
        return [
            str(BIN / "celery"),
            "-A",
            "bench.worker_app",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-l",
            "warning",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"bench-{uuid.uuid4().hex[:6]}@%h",
        ]

    def start_web(self) -> None:
        self.processes.start(
            "web",
            [
                str(BIN / "gunicorn"),
                "comune.asgi",
                "-b",
                f"127.0.0.1:{self.web_port}",
                "-w",
                str(self.args.web_workers),
                "-k",
                "asgi",
                "--log-level",
                "warning",
            ],
            self.env(0),
        )
        wait_port(self.web_port)

    # Data

    def add_subscribers(self, total: int) -> None:
        """Active subscribers until there are `total` seeded ones: one INSERT … SELECT."""
        from django.db import connection
        from django.utils import timezone

        from subscribers.models import Subscriber

        count = total - self.next_phone
        if count <= 0:
            return
        template = Subscriber(
            phone="", status=Subscriber.Status.ACTIVE, subscribed_at=timezone.now()
        )
        columns, values, params = [], [], []
        for f in Subscriber._meta.concrete_fields:
            if f.primary_key:
                continue
            columns.append(connection.ops.quote_name(f.column))
            if f.name == "phone":
                values.append("'+39320' || lpad(g::text, 7, '0')")
            else:
                values.append("%s")
                params.append(f.get_db_prep_save(f.pre_save(template, True), connection))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Subscriber._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
                f"SELECT {', '.join(values)} FROM generate_series(%s, %s) g",
                [*params, self.next_phone + 1, total],
            )
            cursor.execute(f"ANALYZE {Subscriber._meta.db_table}")
        self.next_phone = total

    def broadcast(self, title: str):
        from broadcasts import services

        author, approver = self.users
        draft = services.broadcast_create(
            author=author, title=title, body=f"{title}: avviso.", category="public_utility"
        )
        services.broadcast_submit(broadcast=draft, actor=author)
        return draft

    def setup_django(self) -> None:
        import django

        os.environ.update(self.env(0))
        django.setup()
        from django.contrib.auth.models import Permission, User
        from django.core.management import call_command

        from subscribers.services import privacy_notice_publish

        call_command("migrate", verbosity=0)
        privacy_notice_publish(version="bench", title="Informativa", body="Testo.")
        author = User.objects.create_user("bench-author", is_staff=True)
        approver = User.objects.create_user("bench-approver", is_staff=True)
        approver.user_permissions.add(Permission.objects.get(codename="approve_broadcast"))
        approver = User.objects.get(pk=approver.pk)
        self.users = (author, approver)

    # Sending

    def send(self, title: str, rate: int, *, cancel_after: float | None = None):
        """Approve a broadcast to every active subscriber and wait until every row is sent;
        check against the fake's log that each was accepted exactly once."""
        import redis

        from broadcasts import services
        from broadcasts.models import Broadcast, Delivery

        self.report.phase(f"broadcast '{title}' at rate {rate or 'off'}")
        worker = self.start_worker(rate)
        time.sleep(1 if self.args.smoke else 3)  # the worker is consuming before the clock starts
        broker = redis.Redis.from_url(self.redis_url)
        broker.delete("bench:queries")
        draft = self.broadcast(title)
        since = time.time()
        started = time.monotonic()
        services.broadcast_approve(broadcast=draft, actor=self.users[1])
        deadline = started + self.args.timeout
        cancelled = False
        while time.monotonic() < deadline:
            status = Broadcast.objects.values_list("status", flat=True).get(pk=draft.pk)
            if status == "sent":
                break
            if cancel_after and not cancelled and time.monotonic() - started > cancel_after:
                services.broadcast_cancel(broadcast=draft, actor=self.users[1])
                cancelled = True
            if status == "cancelled":
                time.sleep(3)  # the ranges in flight end
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        rss = peak_rss_mb(worker.pid)
        queries = int(broker.get("bench:queries") or 0)
        rows = dict(Delivery.objects.filter(broadcast=draft).values_list("id", "status"))
        entries = [e for e in self.fake.entries(since) if e[1] == 200 or CALLBACK.search(e[2])]
        accepted = Counter(
            int(m.group(1)) for _, s, b in entries if s == 200 for m in [CALLBACK.search(b)] if m
        )
        mine = {pk: n for pk, n in accepted.items() if pk in rows}
        sent = [pk for pk, s in rows.items() if s == "sent"]
        duplicated = [pk for pk, n in mine.items() if n > 1]
        if not cancelled:
            missing = [pk for pk in rows if pk not in mine]
            if missing or len(sent) != len(rows) or status != "sent":
                self.report.problems.append(
                    f"{title}: {len(missing)} of {len(rows)} deliveries never reached the fake, "
                    f"{len(rows) - len(sent)} not sent, broadcast {status}"
                )
        else:
            lost = [pk for pk, s in rows.items() if s == "sent" and pk not in mine]
            if lost:
                self.report.problems.append(f"{title}: {len(lost)} rows sent but not received")
        if duplicated:
            self.report.problems.append(f"{title}: {len(duplicated)} deliveries sent twice")
        times = sorted(
            t
            for t, _, b in entries
            if CALLBACK.search(b) and int(CALLBACK.search(b).group(1)) in rows
        )
        return {
            "rows": len(rows),
            "sent": len(mine),
            "seconds": elapsed,
            "rss": rss,
            "queries": queries,
            "times": times,
            "broadcast": draft.pk,
        }

    def plain_client(self, count: int, connections: int) -> float:
        """The ceiling: requests, `connections` threads with pooled sessions, same payloads."""
        import requests
        from requests.adapters import HTTPAdapter

        from gateway.backends.cloud import message_payload
        from gateway.types import TextMessage

        self.report.phase(f"plain client, {connections} connections")
        url = f"{self.fake.url}/v23.0/{PHONE_NUMBER_ID}/messages"
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

    # Phases

    def phase_rate(self, rate: int, rows: int) -> dict:
        self.add_subscribers(rows)
        self.deactivate_beyond(rows)
        result = self.send(f"rate {rate}", rate)
        times = result["times"]
        busiest, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] > 10.0:
                start += 1
            busiest = max(busiest, end - start + 1)
        span = times[-1] - times[0] if len(times) > 1 else 1.0
        achieved = (len(times) - 1) / span if span else 0.0
        window = min(10.0, span)
        overshoot = busiest / (rate * window) - 1 if window else 0.0
        self.report.add(
            f"rate limit {rate}/s: achieved ({rows:,} rows)",
            f"{achieved:,.1f} msg/s",
            f"limit {rate}",
            f"{achieved / rate:.0%}",
            "≈ limit",
        )
        self.report.add(
            f"rate limit {rate}/s: busiest {window:.0f} s window",
            f"{busiest:,} msgs",
            f"{rate * window:,.0f}",
            f"{overshoot:+.1%}",
            "≤ +5 %",
            ok=overshoot <= 0.05,
        )
        return result

    def deactivate_beyond(self, rows: int) -> None:
        """Only the first `rows` seeded subscribers receive the next broadcast."""
        from subscribers.models import Subscriber

        Subscriber.objects.filter(phone__startswith="+39320", phone__gt=f"+39320{rows:07d}").update(
            status=Subscriber.Status.UNSUBSCRIBED
        )
        Subscriber.objects.filter(
            phone__startswith="+39320", phone__lte=f"+39320{rows:07d}"
        ).exclude(status=Subscriber.Status.ACTIVE).update(status=Subscriber.Status.ACTIVE)

    def phase_end_to_end(self) -> None:
        rows = self.sizes.e2e
        self.add_subscribers(rows)
        self.deactivate_beyond(rows)
        result = self.send("end to end", 0)
        rate = result["rows"] / result["seconds"]
        connections = self.args.concurrency * self.send_concurrency()
        ceiling = self.plain_client(min(rows, 30_000), connections)
        self.report.add(
            f"send end to end, rate limit off ({rows:,} rows)",
            f"{rate:,.0f} msg/s",
            f"plain client {ceiling:,.0f} msg/s ({connections} conns)",
            f"{rate / ceiling:.0%}",
            "≥ 1,000 msg/s and ≥ 80 %",
            ok=rate >= 1000 and rate >= 0.8 * ceiling,
        )
        self.report.add(
            "queries per delivered message",
            f"{result['queries'] / max(result['sent'], 1):.3f}",
            "",
            "",
            "fewer is better",
        )
        self.e2e_broadcast = result["broadcast"]

    def send_concurrency(self) -> int:
        from django.conf import settings

        return settings.BROADCAST_SEND_CONCURRENCY

    def phase_fan_out(self, rows: int) -> None:
        from django.db import connection

        from broadcasts import services
        from broadcasts.models import Broadcast, Delivery
        from subscribers.models import Subscriber

        self.add_subscribers(rows)
        self.deactivate_beyond(rows)
        self.report.phase(f"fan-out of {rows:,}")
        table = Delivery._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")
        reference_broadcast = self.broadcast("fan-out reference")
        sql = (
            f"\\timing on\nINSERT INTO {table} (broadcast_id, subscriber_id, status, attempts, "
            f"queued_at, error_title, error_retryable) SELECT {reference_broadcast.pk}, s.id, "
            "'queued', 0, now(), '', false FROM subscribers_subscriber s "
            "WHERE s.status = 'active' AND s.messages_stopped_at IS NULL;\n"
        )
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
            input=sql,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        reference = float(re.search(r"Time: ([\d.]+) ms", out).group(1)) / 1000
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")
        draft = self.broadcast("fan-out")
        Broadcast.objects.filter(pk=draft.pk).update(status="sending")
        saved = services._enqueue_ranges
        services._enqueue_ranges = lambda *a, **k: 0  # sending is measured elsewhere
        try:
            started = time.monotonic()
            created = services.broadcast_fan_out(broadcast_id=draft.pk)
            seconds = time.monotonic() - started
        finally:
            services._enqueue_ranges = saved
        active = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).count()
        if created != active:
            self.report.problems.append(f"fan-out to {active:,} created {created:,} rows")
        target = "≤ 10 s" if rows >= 1_000_000 else ""
        self.report.add(
            f"fan-out {rows:,} rows",
            f"{seconds:.2f} s",
            f"psql INSERT … SELECT {reference:.2f} s",
            f"{seconds / reference:.2f}×",
            target,
            ok=(seconds <= 10) if target else None,
        )
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")

    def phase_rss(self, rows: int, result: dict | None = None) -> None:
        if result is None:
            self.add_subscribers(rows)
            self.deactivate_beyond(rows)
            cancel = None if self.sizes.send_large else self.args.large_seconds
            result = self.send(f"rss {rows}", 0, cancel_after=cancel)
        how = (
            "sent"
            if result["sent"] >= result["rows"]
            else f"{result['sent']:,} sent, then cancelled"
        )
        self.report.add(
            f"worker peak RSS, broadcast of {rows:,} rows ({how})",
            f"{result['rss']:.0f} MB",
            "",
            "",
            "≤ 150 MB, flat",
            ok=result["rss"] <= 150,
        )

    def phase_statuses(self) -> None:
        """Signed status webhooks (sent, delivered, read per message, one per POST) with wrk."""
        from broadcasts.models import Delivery

        if not ensure_tool("wrk", ["wrk"]):
            self.report.add("status-webhook ingest", "skipped: wrk missing")
            return
        from gateway import sign

        rows = list(
            Delivery.objects.filter(broadcast_id=self.e2e_broadcast, status="sent")
            .select_related("subscriber")
            .order_by("id")
            .values_list("id", "wamid", "subscriber__phone")[: self.sizes.statuses]
        )
        self.report.phase("status webhooks")
        bodies = []
        now = int(time.time())
        for step, status in enumerate(("sent", "delivered", "read")):
            for pk, wamid, phone in rows:
                body = json.dumps(
                    {
                        "object": "whatsapp_business_account",
                        "entry": [
                            {
                                "id": "102290129340398",
                                "changes": [
                                    {
                                        "field": "messages",
                                        "value": {
                                            "messaging_product": "whatsapp",
                                            "metadata": {"phone_number_id": PHONE_NUMBER_ID},
                                            "statuses": [
                                                {
                                                    "id": wamid,
                                                    "status": status,
                                                    "timestamp": str(now + step),
                                                    "recipient_id": phone[1:],
                                                    "biz_opaque_callback_data": f"d:{pk}",
                                                }
                                            ],
                                        },
                                    }
                                ],
                            }
                        ],
                    },
                    separators=(",", ":"),
                )
                bodies.append(f"{sign(body.encode(), APP_SECRET)}\t{body}")
        data = self.workdir / "statuses.txt"
        data.write_text("\n".join(bodies) + "\n")
        script = self.workdir / "statuses.lua"
        result = self.workdir / "statuses.result"
        script.write_text(WRK_SCRIPT.replace("@DATA@", str(data)).replace("@RESULT@", str(result)))
        started = time.monotonic()
        subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{self.args.webhook_connections}",
                "-d600s",
                "-s",
                str(script),
                f"http://127.0.0.1:{self.web_port}/webhooks/whatsapp/",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        posted = time.monotonic()
        seconds = posted - started
        answered, bad = map(int, result.read_text().split()) if result.exists() else (0, -1)
        if bad or answered < len(bodies):
            self.report.problems.append(f"status webhooks: {bad} answers not 200 of {answered}")
        per_second = len(bodies) / seconds
        while time.monotonic() - posted < 60:
            if Delivery.objects.filter(pk__in=[r[0] for r in rows], status="read").count() == len(
                rows
            ):
                break
            time.sleep(0.05)
        else:
            self.report.problems.append("statuses not all visible after 60 s")
        visible = time.monotonic() - posted
        send_rate = self.rate_1000
        self.report.add(
            f"status-webhook ingest ({len(bodies):,} signed POSTs, "
            f"{self.args.webhook_connections} in flight, gunicorn {self.args.web_workers} workers)",
            f"{per_second:,.0f} POST/s",
            f"3 × send rate {send_rate:,.0f} = {3 * send_rate:,.0f}",
            f"{per_second / (3 * send_rate):.0%}",
            "≥ 100 %",
            ok=per_second >= 3 * send_rate,
        )
        self.report.add(
            "statuses visible after the last POST",
            f"{visible:.2f} s",
            "",
            "",
            "≤ 5 s",
            ok=visible <= 5,
        )

    def phase_replies(self) -> None:
        """Iscrivimi from new numbers, signed, to gunicorn; the reply's arrival at the fake."""
        import requests

        from gateway import sign

        self.report.phase("keywords")
        sent_at: dict[str, float] = {}
        since = time.time()
        session = requests.Session()
        for i in range(self.sizes.replies):
            phone = f"39399{i:07d}"
            body = json.dumps(
                {
                    "object": "whatsapp_business_account",
                    "entry": [
                        {
                            "id": "102290129340398",
                            "changes": [
                                {
                                    "field": "messages",
                                    "value": {
                                        "messaging_product": "whatsapp",
                                        "metadata": {"phone_number_id": PHONE_NUMBER_ID},
                                        "contacts": [
                                            {"profile": {"name": "Bench"}, "wa_id": phone}
                                        ],
                                        "messages": [
                                            {
                                                "from": phone,
                                                "id": f"wamid.in.{i}.{uuid.uuid4().hex[:6]}",
                                                "timestamp": str(int(time.time())),
                                                "type": "text",
                                                "text": {"body": "Iscrivimi"},
                                            }
                                        ],
                                    },
                                }
                            ],
                        }
                    ],
                }
            ).encode()
            sent_at[phone] = time.time()
            answer = session.post(
                f"http://127.0.0.1:{self.web_port}/webhooks/whatsapp/",
                data=body,
                headers={
                    "X-Hub-Signature-256": sign(body, APP_SECRET),
                    "Content-Type": "application/json",
                },
                timeout=30,
            )
            if answer.status_code != 200:
                self.report.problems.append(f"keyword POST answered {answer.status_code}")
            time.sleep(0.1)
        arrived: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while len(arrived) < len(sent_at) and time.monotonic() < deadline:
            for moment, status, body in self.fake.entries(since):
                match = TO.search(body)
                if status == 200 and match and match.group(1) in sent_at:
                    arrived.setdefault(match.group(1), moment)
        latencies = sorted(arrived[p] - sent_at[p] for p in arrived)
        if len(latencies) != len(sent_at):
            self.report.problems.append(f"{len(sent_at) - len(latencies)} keyword replies missing")
        if latencies:
            p50 = statistics.median(latencies)
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            self.report.add(
                f"keyword → reply, p50 / p99 ({len(latencies)} keywords, "
                f"during a broadcast at 80 msg/s)",
                f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms",
                f"fake latency {self.args.latency * 1000:.0f} ms",
                "",
                "p99 ≤ 1 s",
                ok=p99 <= 1,
            )

    def run(self) -> int:
        self.fake.start()
        self.setup_django()
        self.start_web()
        try:
            if self.args.only:
                self.run_only(self.args.only)
            else:
                self.run_all()
        finally:
            self.processes.stop_all()
            self.fake.stop()
            import redis

            broker = redis.Redis.from_url(self.redis_url)
            for key in broker.scan_iter(f"{self.key_prefix}*"):
                broker.delete(key)
        print()
        print(self.report.table())
        print(self.machine())
        for problem in self.report.problems:
            print("PROBLEM:", problem)
        return 1 if self.report.problems else 0

    def run_only(self, phases: list[str]) -> None:
        """A few phases alone, to measure one change quickly."""
        if "end-to-end" in phases:
            self.phase_end_to_end()
        if "rate-1000" in phases:
            self.phase_rate_1000()
        if "statuses" in phases:
            rows = self.sizes.statuses
            self.add_subscribers(rows)
            self.deactivate_beyond(rows)
            self.e2e_broadcast = self.send("for statuses", 0)["broadcast"]
            self.rate_1000 = 1000.0  # the limit itself, not the rate achieved under it
            self.phase_statuses()
        if "fan-out" in phases:
            for rows in self.sizes.fan_out:
                self.phase_fan_out(rows)

    def run_all(self) -> None:
        sizes = self.sizes
        # Rate limited at 80/s, with keywords arriving meanwhile.
        self.add_subscribers(sizes.rate80)
        self.deactivate_beyond(sizes.rate80)
        thread_result: dict = {}
        sender = threading.Thread(
            target=lambda: thread_result.update(self.phase_rate(80, sizes.rate80))
        )
        sender.start()
        time.sleep(8)
        self.phase_replies()
        sender.join()
        small = self.sizes.rss_small
        self.add_subscribers(small)
        self.deactivate_beyond(small)
        self.phase_rss(small, self.send(f"rss {small}", 0))
        self.phase_end_to_end()
        self.rate_1000 = self.phase_rate_1000()
        self.phase_statuses()
        for rows in sizes.fan_out:
            self.phase_fan_out(rows)
        self.phase_rss(sizes.rss_large)

    def phase_rate_1000(self) -> float:
        rows = self.sizes.e2e
        result = self.phase_rate(1000, rows)
        times = result["times"]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 1.0

    def machine(self) -> str:
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        )
        return (
            f"machine: {os.cpu_count()} cores, {cpu}; fake Cloud API nginx, latency "
            f"{self.args.latency * 1000:.0f} ms, error rate {self.args.error_rate:.1%}; worker "
            f"prefork -c {self.args.concurrency} × {self.args.send_concurrency} send threads, "
            f"gunicorn -k asgi -w {self.args.web_workers}"
        )


WRK_SCRIPT = r"""
local bodies, signatures = {}, {}
for line in io.lines("@DATA@") do
  local tab = line:find("\t")
  signatures[#signatures + 1] = line:sub(1, tab - 1)
  bodies[#bodies + 1] = line:sub(tab + 1)
end
local i, answered, bad = 0, 0, 0
request = function()
  i = i + 1
  local n = ((i - 1) % #bodies) + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = signatures[n]}, bodies[n])
end
response = function(status, headers, body)
  answered = answered + 1
  if status ~= 200 then bad = bad + 1 end
  if answered >= #bodies then
    -- wrk's own stop waits out -d; the benchmark times the process instead.
    local out = io.open("@RESULT@", "w")
    out:write(answered, " ", bad, "\n")
    out:close()
    os.exit(0)
  end
end
"""


def bench_database_url() -> str:
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
        choices=["end-to-end", "rate-1000", "statuses", "fan-out"],
        help="run only this phase (repeatable); statuses are then compared with 3 × the limit",
    )
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    args = parser.parse_args(argv)
    if not ensure_tool("nginx", ["nginx-light", "libnginx-mod-http-echo"]):
        return 2
    sizes = SMOKE if args.smoke else FULL if args.full else DEFAULT
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what we started
    os.environ["DATABASE_URL"] = bench_database_url()
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp:
        return Bench(args, sizes, Path(tmp)).run()


if __name__ == "__main__":
    sys.exit(main())
