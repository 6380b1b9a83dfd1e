"""No phone number reaches a log line (issue 13, finding 14): the formatter masks numbers however
they are written, in the message and in tracebacks, in the web tier and in a real Celery worker."""

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from comune.logging import RedactingFormatter, redact
from tests.integration.test_worker import publish_to_redis_broker

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "number",
    [
        "393331234567",
        "+393331234567",
        "+39 333 123 4567",
        "+39-333-1234567",
        "0039 333 1234567",
        "(+39) 333.123.4567",
        "333 123 4567",
        "02 1234 5678",
    ],
)
def test_numbers_are_masked_however_they_are_written(number):
    masked = redact(f"to {number}, failed")
    assert masked.endswith(f"***{number[-2:]}, failed")
    assert not any(group in masked for group in ("333", "123", "1234"))


@pytest.mark.parametrize(
    "text",
    ["2026-12-03 19:19:02", "broadcast 42 paused: 131026 Message undeliverable", "12:30-13:45"],
)
def test_dates_ids_and_error_codes_stay(text):
    assert redact(text) == text


def test_a_traceback_quoting_a_number_is_masked():
    formatter = RedactingFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("duplicate key (phone)=(+393331234567)")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "sending %s", ("+39 333 765 4321",), sys.exc_info()
        )

    line = formatter.format(record)

    assert "3331234567" not in line and "765 4321" not in line
    assert "sending ***21" in line and "(phone)=(***67)" in line


@pytest.mark.services
def test_a_celery_worker_masks_numbers_in_what_it_logs(redis_url, tmp_path):
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "comune.settings",
        "DEBUG": "true",
        "REDIS_URL": redis_url,
        "CELERY_KEY_PREFIX": prefix,
        "LOG_LEVEL": "INFO",
    }
    celery = Path(sys.executable).parent / "celery"
    with log.open("w") as output:
        worker = subprocess.Popen(
            [
                celery,
                "-A",
                "tests.integration.logging_app",
                "worker",
                "-P",
                "solo",
                "-l",
                "info",
                "--without-mingle",
                "--without-gossip",
                "-Q",
                "default",
            ],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with publish_to_redis_broker(redis_url, prefix):
            from comune.celery import app

            app.send_task("tests.log_a_number", args=["+39 333 123 4567"], queue="default")
        deadline = time.monotonic() + 60
        while "no WhatsApp account" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()

    output = log.read_text()
    print(output[-2000:])
    assert "reply to ***67 failed" in output  # the task's own log line
    assert "no WhatsApp account for ***67" in output  # the worker's traceback of its failure
    assert "123 4567" not in output
