"""requirements.txt alone starts every process the stack runs. The test venv cannot show it:
pytest brings packages (`packaging`, which kombu's Redis transport imports) that the runtime
may lack. So this builds a venv from requirements.txt alone, resolved as `pip install -r`
resolves it in the Dockerfile (the pip cache keeps it to about a minute), and starts the web
application and a worker on Redis from it."""

import os
import subprocess
import sys
import time
import uuid
import venv
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    """A venv holding requirements.txt and nothing else (pip and the standard library)."""
    folder = tmp_path_factory.mktemp("runtime") / "venv"
    venv.EnvBuilder(with_pip=True).create(folder)
    python = folder / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + ["-r", str(REPO / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    return folder / "bin"


def production_env(**extra: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "WHATSAPP_", "PYTHON", "VIRTUAL_ENV", "CONSENT_"))
    }
    return {
        **keep,
        "ENV_FILE": os.devnull,
        "DJANGO_SETTINGS_MODULE": "comune.settings",
        "DEBUG": "false",
        "SECRET_KEY": "requirements-test-secret-key-" + "x" * 40,
        "CONSENT_LOG_KEY": "requirements-test-consent-log-key",
        "WHATSAPP_APP_SECRET": "requirements-test-app-secret",
        "WHATSAPP_VERIFY_TOKEN": "requirements-test-verify-token",
        "WHATSAPP_BACKEND": "console",
        "DATABASE_URL": "sqlite:///:memory:",
        **extra,
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_venv_holds_only_the_runtime(runtime_venv):
    # What the test venv hides: pytest is not there to bring its own dependencies.
    done = run([str(runtime_venv / "python"), "-c", "import pytest"], production_env())

    assert done.returncode != 0
    assert "No module named 'pytest'" in done.stderr


def test_the_workers_transport_imports(runtime_venv):
    done = run(
        [str(runtime_venv / "python"), "-c", "import kombu.transport.redis, hiredis"],
        production_env(),
    )

    assert done.returncode == 0, done.stderr


def test_the_web_application_loads_under_gunicorns_asgi_worker(runtime_venv, redis_url):
    done = run(
        [str(runtime_venv / "gunicorn"), "comune.asgi", "--worker-class", "asgi", "--check-config"],
        production_env(REDIS_URL=redis_url, DATABASE_URL="postgres://nobody@127.0.0.1:1/none"),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_worker_starts_on_redis_and_answers_a_ping(runtime_venv, redis_url, tmp_path):
    from comune.celery import MAIN_WORKER_QUEUES

    prefix = f"requirements-{uuid.uuid4().hex[:8]}:"
    env = production_env(REDIS_URL=redis_url, CELERY_KEY_PREFIX=prefix)
    name = f"requirements-{uuid.uuid4().hex[:8]}@%h"
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [str(runtime_venv / "celery"), "-A", "comune", "worker", "-Q", MAIN_WORKER_QUEUES]
        + ["-n", name, "-c", "1", "-l", "info"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        node = name.replace("%h", os.uname().nodename)
        deadline = time.monotonic() + 60
        answered = None
        while time.monotonic() < deadline and worker.poll() is None:
            answered = run(
                [str(runtime_venv / "celery"), "-A", "comune", "inspect", "ping"]
                + ["-d", node, "--timeout", "3"],
                env,
            )
            if answered.returncode == 0:
                break
            time.sleep(1)
        output = (tmp_path / "worker.log").read_text()
        assert worker.poll() is None, f"the worker exited:\n{output[-3000:]}"
        assert answered is not None and answered.returncode == 0, output[-3000:]
        assert "pong" in answered.stdout
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)


def test_this_python_is_the_one_the_image_runs():
    # The Dockerfile's base image and requires-python: the venv above is built with this one.
    dockerfile = (REPO / "Dockerfile").read_text()

    assert f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-" in dockerfile
