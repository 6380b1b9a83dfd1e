"""deploy/healthcheck.py, the containers' health checks for web and beat: healthy only when
web answers /healthz 200 for a host Django accepts, and when beat keeps writing its schedule."""

import importlib.util
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("healthcheck", REPO / "deploy" / "healthcheck.py")
assert _spec is not None and _spec.loader is not None
healthcheck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(healthcheck)


@pytest.fixture
def web_server():
    """A stand-in for gunicorn answering /healthz with `answer[0]`, recording the Host header."""
    answer = [200]
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            hosts.append(self.headers["Host"])
            body = json.dumps({"status": "ok" if answer[0] == 200 else "unavailable"}).encode()
            self.send_response(answer[0])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/healthz", answer, hosts
    server.shutdown()


def test_web_is_healthy_when_healthz_answers_200(web_server, monkeypatch):
    url, answer, hosts = web_server
    monkeypatch.setenv("ALLOWED_HOSTS", "info.comune.example.it,.comune.example.it")

    assert healthcheck.main(["web", url]) == 0
    assert hosts == ["info.comune.example.it"]


def test_web_is_unhealthy_when_healthz_answers_503(web_server, capsys):
    url, answer, hosts = web_server
    answer[0] = 503

    assert healthcheck.main(["web", url]) == 1
    assert "answered 503" in capsys.readouterr().err


def test_web_is_unhealthy_when_nothing_listens(capsys):
    from bench.broadcast.processes import free_port

    assert healthcheck.main(["web", f"http://127.0.0.1:{free_port()}/healthz"]) == 1
    assert "refused" in capsys.readouterr().err.lower()


@pytest.mark.parametrize(
    ("allowed", "host"),
    [(".comune.example.it", "comune.example.it"), ("*", "localhost"), ("", "localhost")],
)
def test_the_host_asked_for_is_one_django_accepts(allowed, host, monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", allowed)

    assert healthcheck._host() == host


def test_beat_is_healthy_while_it_writes_its_schedule(tmp_path):
    schedule = tmp_path / "celerybeat-schedule"

    assert healthcheck.main(["beat", str(schedule)]) == 1  # not written yet
    Path(f"{schedule}.db").write_bytes(b"")  # dbm's suffix
    assert healthcheck.main(["beat", str(schedule)]) == 0


def test_beat_is_unhealthy_once_its_schedule_is_stale(tmp_path, capsys):
    schedule = tmp_path / "celerybeat-schedule"
    schedule.write_bytes(b"")
    stale = time.time() - healthcheck.BEAT_STALE_AFTER_SECONDS - 60
    os.utime(schedule, (stale, stale))

    assert healthcheck.main(["beat", str(schedule)]) == 1
    assert "last wrote its schedule" in capsys.readouterr().err


def test_an_unknown_check_is_a_usage_error():
    assert healthcheck.main(["proxy"]) == 2
