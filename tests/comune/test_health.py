"""GET /healthz, which the containers' health checks and a load balancer ask: 200 when the
database and the broker answer, 503 naming the part that does not."""

import pytest
from django.db import OperationalError, connection

from bench.broadcast.processes import free_port


@pytest.fixture
def down_redis_url() -> str:
    """A Redis URL where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


def test_healthy_with_the_broker_answering(client, db, settings, redis_url):
    settings.REDIS_URL = redis_url

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_without_a_broker_tasks_run_in_process(client, db, settings):
    settings.REDIS_URL = ""

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "in-process"}


def test_a_broker_that_does_not_answer_is_named(client, db, settings, down_redis_url, caplog):
    settings.REDIS_URL = down_redis_url

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "broker": "unavailable"}
    assert "the broker does not answer (ConnectionError)" in caplog.text
    # The answer names no address.
    assert down_redis_url.split(":")[2] not in response.content.decode()


def test_a_database_that_does_not_answer_is_named(client, db, settings, monkeypatch, caplog):
    settings.REDIS_URL = ""

    def refuse(*args, **kwargs):
        raise OperationalError('connection to server at "db" failed: Connection refused')

    # What a stopped server looks like to Django (tests/deploy/test_stack.py stops a real one).
    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refuse)
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "unavailable",
        "broker": "in-process",
    }
    assert "the database does not answer (OperationalError)" in caplog.text
    assert "Connection refused" not in response.content.decode()


def test_not_redirected_to_https_so_the_container_can_ask(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.REDIS_URL = ""

    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301


def test_only_read(client, db):
    assert client.post("/healthz").status_code == 405
