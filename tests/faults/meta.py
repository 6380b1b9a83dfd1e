"""Meta as a fault run meets it: the fake Cloud API accepts sends and, like Meta, posts each
accepted message's statuses (sent, delivered, read) back to the product's webhook, signed,
retrying every POST not answered 200 until it is (Meta retries for days)."""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import requests

from gateway.signature import sign
from gateway.testing import error_answer, status_update, statuses_value, webhook_body
from tests.fakes.cloud_api import Answer, FakeCloudAPI, FakeRequest

STATUS_BATCH = 50  # statuses per webhook POST, as Meta batches them under load


@dataclass(frozen=True)
class Accepted:
    wamid: str
    to: str  # digits, as Meta's recipient_id
    callback_data: str | None
    at: float


class FakeMeta:
    """The fake Cloud API and its status webhooks. `duplicate` posts every webhook twice and
    `shuffle` mixes the order of the statuses (a read before its delivered, across messages)."""

    def __init__(self, *, webhook_url: str, app_secret: str, latency: float = 0.02) -> None:
        self.cloud = FakeCloudAPI(latency=latency)
        self.cloud.on_accepted = self._accepted
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.duplicate = False
        self.shuffle = False
        self.accepted: list[Accepted] = []
        self.posts = Counter[int]()  # the webhook's answers, by HTTP status (0: no answer)
        self._lock = threading.Lock()
        self._pending: queue.Queue[Accepted] = queue.Queue()
        self._stopping = threading.Event()
        self._poster = threading.Thread(target=self._post_statuses, name="fake-meta-statuses")
        self._storm_until = 0.0
        self._storm_share = 0.0

    def start(self) -> FakeMeta:
        self.cloud.start()
        self.cloud.responder = self._storm
        self._poster.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._poster.is_alive():
            self._poster.join(timeout=30)
        self.cloud.stop()

    @property
    def url(self) -> str:
        return self.cloud.url

    # The faults Meta itself can bring

    def storm(self, *, share: float, seconds: float) -> None:
        """For `seconds`, answer a `share` of the sends 429 (rate limit) or 503 (unavailable)."""
        self._storm_share = share
        self._storm_until = time.monotonic() + seconds

    def _storm(self, request: FakeRequest) -> Answer | None:
        if time.monotonic() >= self._storm_until or not request.path.endswith("/messages"):
            return None
        if random.random() >= self._storm_share:  # noqa: S311 - a test's dice
            return None
        if random.random() < 0.5:  # noqa: S311
            return 429, error_answer(130429, "(#130429) Rate limit hit")
        return 503, error_answer(2, "Service temporarily unavailable")

    # What Meta received

    def _accepted(self, request: FakeRequest, wamid: str) -> None:
        body = request.json if isinstance(request.json, Mapping) else {}
        accepted = Accepted(
            wamid=wamid,
            to=str(body.get("to", "")).lstrip("+"),
            callback_data=body.get("biz_opaque_callback_data"),
            at=time.time(),
        )
        with self._lock:
            self.accepted.append(accepted)
        self._pending.put(accepted)

    def received(self) -> Counter[str]:
        """How many messages each number received."""
        with self._lock:
            return Counter(a.to for a in self.accepted)

    def accepted_count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def first_accepted_after(self, moment: float) -> float | None:
        with self._lock:
            return min((a.at for a in self.accepted if a.at >= moment), default=None)

    def last_accepted(self) -> float | None:
        with self._lock:
            return max((a.at for a in self.accepted), default=None)

    def busiest_per_second(self, *, window: float) -> float:
        """Sends (answered or refused) per second in the busiest `window` seconds."""
        moments = sorted(r.received_at for r in self.cloud.requests if r.path.endswith("/messages"))
        busiest, start = 0, 0
        for end, moment in enumerate(moments):
            while moment - moments[start] > window:
                start += 1
            busiest = max(busiest, end - start + 1)
        return round(busiest / window, 1)

    def statuses_waiting(self) -> int:
        return self._pending.qsize()

    # The status webhooks

    def _post_statuses(self) -> None:
        session = requests.Session()
        while not self._stopping.is_set():
            batch = self._take_batch()
            if not batch:
                continue
            for body in self._bodies(batch):
                for _ in range(2 if self.duplicate else 1):
                    self._post_until_answered(session, body)

    def _take_batch(self) -> list[Accepted]:
        try:
            batch = [self._pending.get(timeout=0.2)]
        except queue.Empty:
            return []
        time.sleep(0.05)  # let a batch gather, as Meta's do
        while len(batch) < STATUS_BATCH:
            try:
                batch.append(self._pending.get_nowait())
            except queue.Empty:
                break
        return batch

    def _bodies(self, batch: list[Accepted]) -> list[bytes]:
        now = int(time.time())
        statuses = [
            (
                step,
                status_update(
                    wamid=a.wamid,
                    status=status,
                    timestamp=now + step,
                    recipient_id=a.to,
                    callback_data=a.callback_data,
                    category="utility",
                ),
            )
            for a in batch
            for step, status in enumerate(("sent", "delivered", "read"))
        ]
        if self.shuffle:
            random.shuffle(statuses)
        else:
            statuses.sort(key=lambda pair: pair[0])
        updates = [update for _step, update in statuses]
        chunks = [updates[i : i + STATUS_BATCH] for i in range(0, len(updates), STATUS_BATCH)]
        return [json.dumps(webhook_body(statuses_value(*chunk))).encode() for chunk in chunks]

    def _post_until_answered(self, session: requests.Session, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, self.app_secret),
        }
        pause = 0.25
        while not self._stopping.is_set():
            try:
                status = session.post(self.webhook_url, data=body, headers=headers, timeout=10)
                code = status.status_code
            except requests.RequestException:
                code = 0
            with self._lock:
                self.posts[code] += 1
            if code == 200:
                return
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
