"""One run's stack: its settings, the processes it starts (workers, gunicorn, the fake Cloud API)
and the data it seeds (users, subscribers, broadcasts)."""

from __future__ import annotations

import argparse
import os
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from bench.broadcast.config import APP_SECRET, BIN, PHONE_NUMBER_ID, Sizes
from bench.broadcast.fake_cloud import FakeNginx
from bench.broadcast.processes import Processes, free_port, wait_port
from bench.broadcast.report import Report
from comune.celery import MAIN_WORKER_QUEUES, PRIORITY_WORKER_QUEUES

if TYPE_CHECKING:
    from broadcasts.models import Broadcast

SEEDED_PREFIX = "+39320"  # the seeded subscribers' numbers: +39320 and seven digits, from 1


class Bench:
    """What the phases share: the options and sizes, the report, the running processes, the
    seeded data. Django is set up (`setup_django`) before any phase runs."""

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

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/webhooks/whatsapp/"

    # Settings and processes

    def env(self, rate: int) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_"))}
        return {
            **keep,
            "DJANGO_SETTINGS_MODULE": "comune.settings",
            "ENV_FILE": os.devnull,
            "SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "CONSENT_LOG_KEY": "bench-consent-log-key-" + "x" * 40,
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
        only replies and statuses, so neither queues behind a broadcast, an emergency included."""
        self.processes.stop("worker")
        self.processes.stop("priority")
        self.processes.start(
            "priority", self._worker_command(PRIORITY_WORKER_QUEUES, concurrency=1), self.env(rate)
        )
        return self.processes.start(
            "worker",
            self._worker_command(MAIN_WORKER_QUEUES, self.args.concurrency),
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

    def stop(self) -> None:
        """Stop what the run started and remove its Redis keys."""
        import redis

        self.processes.stop_all()
        self.fake.stop()
        broker = redis.Redis.from_url(self.redis_url)
        for key in broker.scan_iter(f"{self.key_prefix}*"):
            broker.delete(key)

    # Data

    def setup_django(self) -> None:
        """Django in this process, on the benchmark's database: migrated, a privacy notice, an
        author (an Editor) and an approver (an Approver)."""
        import django

        os.environ.update(self.env(0))
        django.setup()
        from django.contrib.auth.models import Group, User
        from django.core.management import call_command

        from roles.models import APPROVER, EDITOR
        from subscribers.services.consent import privacy_notice_publish

        call_command("migrate", verbosity=0)
        privacy_notice_publish(version="bench", title="Informativa", body="Testo.")
        author = User.objects.create_user("bench-author", is_staff=True)
        author.groups.add(Group.objects.get(name=EDITOR))
        approver = User.objects.create_user("bench-approver", is_staff=True)
        approver.groups.add(Group.objects.get(name=APPROVER))
        self.users = (author, approver)

    def audience(self, rows: int) -> None:
        """Exactly the first `rows` seeded subscribers active: the next broadcast's recipients."""
        self._add_subscribers(rows)
        self._deactivate_beyond(rows)

    def _add_subscribers(self, total: int) -> None:
        """Active subscribers until there are `total` seeded ones: one INSERT … SELECT."""
        from django.db import connection
        from django.utils import timezone

        from subscribers.models import Subscriber

        if total <= self.next_phone:
            return
        # Each wrote to us just now: inside the 24-hour window, the bench's text reaches all.
        now = timezone.now()
        template = Subscriber(
            phone="", status=Subscriber.Status.ACTIVE, subscribed_at=now, last_inbound_at=now
        )
        columns, values, params = [], [], []
        for f in Subscriber._meta.concrete_fields:
            if f.primary_key:
                continue
            columns.append(connection.ops.quote_name(f.column))
            if f.name == "phone":
                values.append(f"'{SEEDED_PREFIX}' || lpad(g::text, 7, '0')")
            else:
                values.append("%s")
                params.append(f.get_db_prep_save(f.pre_save(template, True), connection))
        table = Subscriber._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
                f"SELECT {', '.join(values)} FROM generate_series(%s, %s) g",
                [*params, self.next_phone + 1, total],
            )
            cursor.execute(f"ANALYZE {table}")
        self.next_phone = total

    def _deactivate_beyond(self, rows: int) -> None:
        from subscribers.models import Subscriber

        last = f"{SEEDED_PREFIX}{rows:07d}"
        seeded = Subscriber.objects.filter(phone__startswith=SEEDED_PREFIX)
        seeded.filter(phone__gt=last).update(status=Subscriber.Status.UNSUBSCRIBED)
        seeded.filter(phone__lte=last).exclude(status=Subscriber.Status.ACTIVE).update(
            status=Subscriber.Status.ACTIVE
        )

    def broadcast(self, title: str, *, emergency: bool = False) -> Broadcast:
        """A broadcast written by the author and submitted for approval."""
        from broadcasts.lifecycle import broadcast_submit
        from broadcasts.models import Broadcast
        from broadcasts.services.authoring import broadcast_create

        author, _approver = self.users
        kind = {"category": "public_utility"}
        if emergency:
            kind = {"category": "emergency", "priority": Broadcast.Priority.EMERGENCY}
        draft = broadcast_create(author=author, title=title, body=f"{title}: avviso.", **kind)
        broadcast_submit(broadcast=draft, actor=author)
        return draft
