"""The broadcast benchmark at its smoke sizes, through real workers, gunicorn and the fake Cloud
API: every delivery reaches the fake exactly once (the benchmark exits non-zero otherwise).
Correctness only: the timings it prints are the benchmark's business, not the test's."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from bench.broadcast.fake_cloud import ECHO_MODULE

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.services]


def test_the_smoke_benchmark_sends_every_delivery_exactly_once(postgres, redis_url):
    if not (shutil.which("nginx") and ECHO_MODULE.exists()) and os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs nginx and libnginx-mod-http-echo for the broadcast benchmark")
        pytest.skip("needs nginx and libnginx-mod-http-echo (apt-get install, as root)")
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres",
        "BENCH_REDIS_URL": redis_url,
    }
    run = subprocess.run(
        [sys.executable, "-m", "bench.broadcast", "--smoke"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "PROBLEM" not in run.stdout
    assert "send end to end" in run.stdout
