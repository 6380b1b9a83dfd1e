"""README's run command, as a newcomer uses it: it serves the product, and a citizen can join.

The product runs in its own process with its own SQLite file; the gateway is the real cloud
backend pointed at a local fake Cloud API, so what reaches "Meta" is checked as Meta sees it.
"""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

import gateway
from tests.conftest import text_payload
from tests.fakes.cloud_api import FakeCloudAPI

REPO = Path(__file__).resolve().parents[1]
APP_SECRET = "run-command-app-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def served_product(tmp_path):
    fake = FakeCloudAPI().start()
    port = free_port()
    database = tmp_path / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_"))}
    env.update(
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{database}",
        ENV_FILE=os.devnull,
        SECRET_KEY="run-command-test-secret-key",
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_VERIFY_TOKEN="run-command-verify",
        WHATSAPP_BACKEND="cloud",
        WHATSAPP_API_URL=fake.url,
        WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        WHATSAPP_ACCESS_TOKEN="fake-token",
        COMUNE_NAME="Comune di Ostiglia",
    )
    env.pop("REDIS_URL", None)
    log = tmp_path / "run.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(REPO / "bin" / "run")],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url) or process.poll() is not None, 300, "bin/run to serve")
        assert process.poll() is None, log.read_text()
        yield url, fake, database, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        fake.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/admin/login/", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def post_signed(url: str, payload: dict) -> requests.Response:
    body = json.dumps(payload).encode()
    return requests.post(
        url + "/webhooks/whatsapp/",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": gateway.sign(body, APP_SECRET),
        },
        timeout=10,
    )


def subscriber_state(database: Path) -> tuple[str, list[str]]:
    with sqlite3.connect(database) as db:
        (status,) = db.execute("SELECT status FROM subscribers_subscriber").fetchone()
        actions = [row[0] for row in db.execute("SELECT action FROM subscribers_consentrecord")]
    return status, actions


@pytest.mark.slow
def test_run_command_serves_the_product_and_a_citizen_subscribes_and_leaves(served_product):
    url, fake, database, log = served_product
    assert "with password:" in log.read_text()  # the administrator's password, printed once

    assert post_signed(url, text_payload("Iscrivimi", wamid="wamid.run1")).status_code == 200
    wait_until(lambda: fake.requests, what="the confirmation to reach the Cloud API")
    assert subscriber_state(database) == ("active", ["granted"])
    [confirmation] = fake.requests
    assert confirmation.method == "POST"
    assert confirmation.path == "/v23.0/106540352242922/messages"
    assert confirmation.headers["Authorization"] == "Bearer fake-token"
    body = confirmation.json
    assert body["messaging_product"] == "whatsapp"
    assert body["to"] == "+393331234567"
    assert body["type"] == "text"
    assert "Comune di Ostiglia" in body["text"]["body"]
    assert "Cancellami" in body["text"]["body"]
    # SITE_URL follows PORT, so the link in the reply opens this server's notice.
    assert f"{url}/informativa-privacy/" in body["text"]["body"]
    assert requests.get(url + "/regolamento/", timeout=10).status_code == 200
    assert body["biz_opaque_callback_data"].startswith("r:")

    assert post_signed(url, text_payload("Cancellami", wamid="wamid.run2")).status_code == 200
    wait_until(lambda: len(fake.requests) == 2, what="the goodbye to reach the Cloud API")
    assert subscriber_state(database) == ("unsubscribed", ["granted", "withdrawn"])

    unsigned = requests.post(url + "/webhooks/whatsapp/", data=b"{}", timeout=10)
    assert unsigned.status_code == 403
    assert "3331234567" not in log.read_text()  # no phone number in the product's log
