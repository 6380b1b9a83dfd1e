"""One fault run: a private PostgreSQL and Redis, the processes README deploys (gunicorn, the
main and priority workers, beat), the fake Meta posting statuses back, one broadcast (or a crowd
of racing keywords) and one fault injected. It counts what every citizen received and what the
product recorded, and prints both.

    python -m tests.faults redis-restart --subscribers 20000 --rate 400
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.broadcast.config import BIN, PHONE_NUMBER_ID
from bench.broadcast.processes import Processes, free_port, wait_port
from tests.faults.cluster import PrivatePostgres, PrivateRedis
from tests.faults.meta import FakeMeta

APP_SECRET = "faults-app-secret"  # noqa: S105 - the run's own, signs the webhooks it posts
PREFIX = "39320"  # the seeded citizens' numbers: +39320 and seven digits
SCENARIOS = ("worker-kill", "redis-restart", "postgres-restart", "storm", "statuses", "keywords")


@dataclass
class Result:
    scenario: str
    injected: str = ""
    citizens: int = 0
    received_once: int = 0
    duplicated: int = 0
    lost: int = 0  # received nothing, and nothing tells staff so
    unknown: int = 0  # received nothing or once, shown to staff as "outcome unknown"
    deliveries: dict[str, int] = field(default_factory=dict)
    statuses_unapplied: int = 0  # accepted messages whose row is not "read"
    statuses_waiting: int = 0  # stored bodies not yet applied at the end
    webhook_answers: dict[str, int] = field(default_factory=dict)
    resumed_after_s: float | None = None  # fault over → the next message accepted
    settled_after_s: float | None = None  # fault over → every row settled, every status applied
    busiest_10s_per_s: float | None = None  # sends Meta saw in the busiest 10 s, per second
    rate_limit: int = 0
    wrong: int = 0  # keywords: citizens whose state is not their newest keyword's
    consent_log: str = ""
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.scenario == "keywords":
            counted = (
                f"{self.citizens} citizens: {self.wrong} wrong, {self.received_once} replies "
                f"earned, {self.duplicated} citizens replied to twice; "
                f"consent log {self.consent_log}"
            )
        else:
            counted = (
                f"{self.citizens} citizens: {self.received_once} received once, "
                f"{self.duplicated} twice or more, {self.lost} lost, {self.unknown} unknown; "
                f"deliveries {self.deliveries}; {self.statuses_unapplied} statuses unapplied; "
                f"resumed after {_seconds(self.resumed_after_s)}, "
                f"settled after {_seconds(self.settled_after_s)}; busiest 10 s "
                f"{self.busiest_10s_per_s} msg/s (limit {self.rate_limit})"
            )
        return f"[{self.scenario}] injected: {self.injected} | counted: {counted}"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took; raises TimeoutError naming `what`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class FaultRun:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix=f"faults-{args.scenario}-"))
        self.postgres = PrivatePostgres(self.workdir / "postgres")
        self.redis = PrivateRedis(self.workdir / "redis")
        self.processes = Processes(self.workdir)
        self.web_port = free_port()
        self.meta = FakeMeta(
            webhook_url=f"http://127.0.0.1:{self.web_port}/webhooks/whatsapp/",
            app_secret=APP_SECRET,
        )
        self.result = Result(args.scenario)

    # The stack

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_"))}
        return {
            **keep,
            "DJANGO_SETTINGS_MODULE": "comune.settings",
            "ENV_FILE": os.devnull,
            "SECRET_KEY": "faults-secret-key-" + "x" * 40,
            "CONSENT_LOG_KEY": "faults-consent-log-key-" + "x" * 40,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "WHATSAPP_BACKEND": "cloud",
            "WHATSAPP_API_URL": self.meta.url,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WHATSAPP_ACCESS_TOKEN": "faults-token",
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": "faults-verify",
            "WHATSAPP_RATE_PER_SECOND": str(self.args.rate),
            "BROADCAST_QUIET_HOURS": "00:00,00:00",
            "BROADCAST_RETRY_BASE_SECONDS": "0.5",
            "LOG_LEVEL": "WARNING",
        }

    def start(self) -> None:
        self.postgres.create()
        self.redis.start()
        self.meta.start()
        os.environ.update(self.env())
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.start_web()
        self.start_worker("worker")
        self.start_worker("priority")
        self.processes.start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "comune",
                "beat",
                "-l",
                "warning",
                "--schedule",
                str(self.workdir / "beat-schedule"),
            ],
            self.env(),
        )

    def start_web(self) -> None:
        self.processes.start(
            "web",
            [
                str(BIN / "gunicorn"),
                "comune.asgi",
                "-b",
                f"127.0.0.1:{self.web_port}",
                "-w",
                "1",
                "-k",
                "asgi",
                "--log-level",
                "warning",
            ],
            self.env(),
        )
        wait_port(self.web_port)

    def start_worker(self, name: str) -> None:
        """As README deploys them: the main worker on every queue, the priority worker only on
        emergencies, replies and statuses."""
        from comune.celery import MAIN_WORKER_QUEUES, PRIORITY_WORKER_QUEUES

        queues, concurrency = (
            (MAIN_WORKER_QUEUES, "2") if name == "worker" else (PRIORITY_WORKER_QUEUES, "1")
        )
        self.processes.start(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "comune",
                "worker",
                "-Q",
                queues,
                "-c",
                concurrency,
                "-l",
                "warning",
                "-n",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
            ],
            self.env(),
        )

    def stop(self) -> None:
        self.processes.stop_all()
        self.meta.stop()
        self.redis.kill()
        self.postgres.destroy()

    # The data

    def seed(self) -> None:
        from django.contrib.auth.models import Group, User
        from django.utils import timezone

        from roles.models import APPROVER, EDITOR
        from subscribers.models import Subscriber
        from subscribers.services.consent import privacy_notice_publish

        privacy_notice_publish(version="faults", title="Informativa", body="Testo.")
        self.author = User.objects.create_user("faults-author", is_staff=True)
        self.author.groups.add(Group.objects.get(name=EDITOR))
        self.approver = User.objects.create_user("faults-approver", is_staff=True)
        self.approver.groups.add(Group.objects.get(name=APPROVER))
        now = timezone.now()
        Subscriber.objects.bulk_create(
            [
                Subscriber(
                    phone=f"+{PREFIX}{n:07d}",
                    status=Subscriber.Status.ACTIVE,
                    subscribed_at=now,
                    last_inbound_at=now,  # inside the 24-hour window: free text reaches them
                )
                for n in range(1, self.args.subscribers + 1)
            ],
            batch_size=5000,
        )
        self.result.citizens = self.args.subscribers

    def approve_broadcast(self) -> int:
        from broadcasts.lifecycle import broadcast_approve, broadcast_submit
        from broadcasts.services.authoring import broadcast_create

        draft = broadcast_create(
            author=self.author,
            title="Chiusura via Roma",
            body="Via Roma chiusa per lavori da lunedì.",
            category="public_utility",
        )
        broadcast_submit(broadcast=draft, actor=self.author)
        broadcast_approve(broadcast=draft, actor=self.approver)
        return draft.pk

    # The faults

    def inject(self) -> float:
        """Inject the run's fault once 30 % of the broadcast was accepted; returns the moment
        (time.time()) it was over."""
        scenario = self.args.scenario
        if scenario == "statuses":
            self.result.injected = "every status webhook posted twice, statuses shuffled"
            return time.time()
        threshold = max(1, int(self.args.subscribers * 0.3))
        wait_until(lambda: self.meta.accepted_count() >= threshold, 120, "30 % accepted")
        if scenario == "worker-kill":
            worker = self.processes.running["worker"]
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            del self.processes.running["worker"]
            self.result.injected = "kill -9 of the main worker at 30 %, restarted 1 s later"
            time.sleep(1)
            self.start_worker("worker")
        elif scenario == "redis-restart":
            self.result.injected = "Redis killed at 30 % and restarted empty after 5 s"
            self.redis.restart(down_seconds=5)
        elif scenario == "postgres-restart":
            self.result.injected = "PostgreSQL fast stop at 30 %, started again after 5 s"
            self.postgres.stop("fast")
            time.sleep(5)
            self.postgres.start()
        elif scenario == "storm":
            seconds = self.args.storm_seconds
            self.result.injected = f"30 % of sends answered 429/503 for {seconds:g} s from 30 %"
            self.meta.storm(share=0.3, seconds=seconds)
            time.sleep(seconds)
        return time.time()

    # The counts

    def settled(self, broadcast_id: int) -> bool:
        from django.db import connection

        from broadcasts.models import Delivery
        from webhooks.models import StatusWebhook

        try:
            waiting = Delivery.objects.filter(
                broadcast_id=broadcast_id,
                status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING],
            ).exists()
            total = Delivery.objects.filter(broadcast_id=broadcast_id).count()
            read = Delivery.objects.filter(
                broadcast_id=broadcast_id, status=Delivery.Status.READ
            ).count()
            stored = StatusWebhook.objects.exists()
        except Exception:  # noqa: BLE001 - the database may be the fault; ask again
            connection.close()
            return False
        return (
            total == self.args.subscribers
            and not waiting
            and not stored
            and self.meta.statuses_waiting() == 0
            and read >= self.meta.accepted_count()
        )

    def count_broadcast(self, broadcast_id: int, fault_over: float) -> None:
        from django.db import connection

        from broadcasts.models import Delivery

        connection.close()
        rows = Delivery.objects.filter(broadcast_id=broadcast_id).select_related("subscriber")
        statuses = Counter(rows.values_list("status", flat=True))
        unknown = {
            d.subscriber.phone.lstrip("+")
            for d in rows.filter(status=Delivery.Status.UNKNOWN).select_related("subscriber")
        }
        received = self.meta.received()
        numbers = [f"{PREFIX}{n:07d}" for n in range(1, self.args.subscribers + 1)]
        result = self.result
        result.deliveries = dict(statuses)
        result.received_once = sum(1 for n in numbers if received[n] == 1)
        result.duplicated = sum(1 for n in numbers if received[n] > 1)
        result.lost = sum(1 for n in numbers if received[n] == 0 and n not in unknown)
        result.unknown = len(unknown)
        result.statuses_unapplied = len(self.meta.accepted) - statuses.get(Delivery.Status.READ, 0)
        from webhooks.models import StatusWebhook

        result.statuses_waiting = StatusWebhook.objects.count()
        result.webhook_answers = {str(k): v for k, v in sorted(self.meta.posts.items())}
        first = self.meta.first_accepted_after(fault_over)
        if first is not None and self.args.scenario != "statuses":
            result.resumed_after_s = round(first - fault_over, 1)
        result.rate_limit = self.args.rate
        result.busiest_10s_per_s = self.meta.busiest_per_second(window=10.0)
        for field_name, value in (("duplicated", result.duplicated), ("lost", result.lost)):
            if value:
                result.problems.append(f"{value} citizens {field_name}")
        if result.statuses_unapplied:
            result.problems.append(f"{result.statuses_unapplied} statuses not applied")

    def run_broadcast(self) -> None:
        self.seed()
        if self.args.scenario == "statuses":
            self.meta.duplicate = self.meta.shuffle = True
        broadcast_id = self.approve_broadcast()
        fault_over = self.inject()
        try:
            wait_until(lambda: self.settled(broadcast_id), self.args.timeout, "every row settled")
            self.result.settled_after_s = round(time.time() - fault_over, 1)
        except TimeoutError as exc:
            self.result.problems.append(str(exc))
        self.count_broadcast(broadcast_id, fault_over)

    def run_keywords(self) -> None:
        """200 citizens each send Iscrivimi and Cancellami in a random order, all at once, every
        message delivered twice, in no order: each must end as their newest keyword says."""
        from django.core.management import CommandError, call_command

        from gateway.testing import inbound_text, webhook_body
        from subscribers.models import Subscriber

        self.seed_notice()
        citizens = self.args.keyword_citizens
        base = int(time.time()) - 60
        posts: list[bytes] = []
        newest: dict[str, str] = {}
        for n in range(1, citizens + 1):
            number = f"{PREFIX}{n:07d}"
            words = [random.choice(["Iscrivimi", "Cancellami"]) for _ in range(4)]  # noqa: S311
            newest[number] = words[-1]
            for i, word in enumerate(words):
                message = inbound_text(
                    wa_id=number, text=word, message_id=f"wamid.in.{n}.{i}", timestamp=base + i
                )
                posts.extend([json.dumps(webhook_body(message)).encode()] * 2)
        random.shuffle(posts)
        self.result.citizens = citizens
        self.result.injected = (
            f"{citizens} citizens × 4 keywords, each posted twice, shuffled, 16 at a time"
        )
        self._post_all(posts, threads=16)

        from subscribers.models import InboundMessage

        def replied() -> bool:
            unanswered = InboundMessage.objects.exclude(reply="").filter(
                reply_wamid="", reply_error=""
            )
            return InboundMessage.objects.count() == citizens * 4 and not unanswered.exists()

        try:
            wait_until(replied, self.args.timeout, "every keyword handled and replied to")
        except TimeoutError as exc:
            self.result.problems.append(str(exc))
        earned = Counter(InboundMessage.objects.exclude(reply="").values_list("phone", flat=True))
        received = self.meta.received()
        self.result.duplicated = sum(1 for n, c in received.items() if c > earned[f"+{n}"])
        self.result.received_once = sum(earned.values())
        if self.result.duplicated:
            self.result.problems.append(f"{self.result.duplicated} citizens got a reply twice")
        states = dict(
            Subscriber.objects.filter(phone__startswith=f"+{PREFIX}").values_list("phone", "status")
        )
        for number, word in newest.items():
            expected = (
                Subscriber.Status.ACTIVE if word == "Iscrivimi" else Subscriber.Status.UNSUBSCRIBED
            )
            state = states.get(f"+{number}")
            if not (state == expected or (state is None and word == "Cancellami")):
                self.result.wrong += 1
        try:
            call_command("verify_consent_log", verbosity=0)
            self.result.consent_log = "verifies"
        except CommandError as exc:
            self.result.consent_log = f"FAILS: {exc}"
            self.result.problems.append("the consent log does not verify")
        if self.result.wrong:
            self.result.problems.append(f"{self.result.wrong} citizens in the wrong state")

    def seed_notice(self) -> None:
        from subscribers.services.consent import privacy_notice_publish

        privacy_notice_publish(version="faults", title="Informativa", body="Testo.")

    def _post_all(self, bodies: list[bytes], threads: int) -> None:
        import requests

        from gateway.signature import sign

        lock = threading.Lock()

        def work() -> None:
            session = requests.Session()
            while True:
                with lock:
                    if not bodies:
                        return
                    body = bodies.pop()
                headers = {
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": sign(body, APP_SECRET),
                }
                while (
                    session.post(self.meta.webhook_url, data=body, headers=headers).status_code
                    != 200
                ):
                    time.sleep(0.5)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=200, help="messages per second")
    parser.add_argument("--storm-seconds", type=float, default=15.0)
    parser.add_argument("--keyword-citizens", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds to settle")
    parser.add_argument("--json", type=Path, help="write the counts here too")
    parser.add_argument("--keep", action="store_true", help="keep the run's logs")
    args = parser.parse_args(argv)
    run = FaultRun(args)
    try:
        run.start()
        if args.scenario == "keywords":
            run.run_keywords()
        else:
            run.run_broadcast()
    finally:
        run.stop()
    print(run.result.summary())
    for problem in run.result.problems:
        print(f"PROBLEM: {problem}")
    if args.json:
        args.json.write_text(json.dumps(asdict(run.result), indent=2))
    if run.result.problems or args.keep:
        print(f"logs: {run.workdir}")
    else:
        shutil.rmtree(run.workdir, ignore_errors=True)
    return 1 if run.result.problems else 0
