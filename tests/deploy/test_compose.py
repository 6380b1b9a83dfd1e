# ruff: noqa: S603, S607 - runs docker-compose to validate the file
"""docker-compose.yml, read as a deployer relies on it: every service restarts and says whether
it is healthy, the workers serve the queues comune/celery.py names, only the proxy is
published, the migrations run once as the tables' owner before anything else starts, the
application connects as the runtime role, and Redis keeps its queue and evicts nothing."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from comune.celery import MAIN_WORKER_QUEUES, PRIORITY_WORKER_QUEUES

REPO = Path(__file__).resolve().parents[2]
APPLICATION = ("web", "worker", "worker-priority", "beat")
RUNTIME_ROLE = "infocomune_app"
OWNER_ROLE = "infocomune"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_stack_has_its_services(services):
    assert set(services) == {"proxy", "migrate", *APPLICATION, "postgres", "redis"}


def test_every_long_running_service_restarts_and_has_a_health_check(services):
    for name, service in services.items():
        if name == "migrate":
            continue
        assert service.get("restart") == "unless-stopped", name
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service["healthcheck"].get("interval"), name


def test_the_migrations_are_a_one_shot_before_the_application(services):
    migrate = services["migrate"]

    assert migrate["restart"] == "no"
    assert migrate["command"] == ["sh", "deploy/migrate.sh"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APPLICATION:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    script = (REPO / "deploy" / "migrate.sh").read_text()
    steps = [line for line in script.splitlines() if line.startswith("python manage.py")]
    assert [step.split()[2] for step in steps] == ["migrate", "create_runtime_role", "bootstrap"]
    assert f"--role {RUNTIME_ROLE} --password-env DATABASE_APP_PASSWORD" in script


def test_the_application_connects_as_the_runtime_role_and_migrate_as_the_owner(services):
    for name in APPLICATION:
        url = services[name]["environment"]["DATABASE_URL"]
        assert url.startswith(f"postgres://{RUNTIME_ROLE}:${{DATABASE_APP_PASSWORD"), name
        assert "OWNER" not in str(services[name]), f"{name} sees the owner's password"
        assert "secrets" not in services[name], name
    migrate = services["migrate"]
    assert (
        migrate["environment"]["DATABASE_URL"]
        == f"postgres://{OWNER_ROLE}@postgres:5432/infocomune"
    )
    assert migrate["secrets"] == ["database_owner_password"]
    init = (REPO / "deploy" / "postgres" / "10-owner-role.sh").read_text()
    assert f"CREATE ROLE {OWNER_ROLE} LOGIN CREATEROLE NOSUPERUSER" in init
    assert f"OWNER TO {OWNER_ROLE}" in init


def test_the_workers_serve_the_queues_comune_celery_names(services):
    assert option(services["worker"]["command"], "-Q") == MAIN_WORKER_QUEUES
    assert option(services["worker-priority"]["command"], "-Q") == PRIORITY_WORKER_QUEUES
    assert PRIORITY_WORKER_QUEUES == "replies,statuses"


def test_each_worker_health_check_pings_that_worker(services):
    for name in ("worker", "worker-priority"):
        node = option(services[name]["command"], "-n").replace("%h", "$$HOSTNAME")
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL"
        assert f"celery -A comune inspect ping -d {node} " in test[1], name


def test_only_the_proxy_is_published(services):
    published = {name for name, service in services.items() if service.get("ports")}

    assert published == {"proxy"}
    assert sorted(services["proxy"]["ports"]) == ["443:443", "80:80"]


def test_gunicorn_believes_forwarded_headers_only_from_the_proxy(services):
    proxy_address = services["proxy"]["networks"]["edge"]["ipv4_address"]
    web = services["web"]

    assert option(web["command"], "--forwarded-allow-ips") == proxy_address
    assert web["environment"]["TRUSTED_PROXY"] == "true"
    assert option(web["command"], "--worker-class") == "asgi"
    assert web["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py", "web"]


def test_redis_keeps_its_queues_evicts_nothing_and_wants_its_password(services):
    redis = services["redis"]
    command = redis["command"]

    assert option(command, "--appendonly") == "yes"
    assert option(command, "--appendfsync") == "everysec"
    assert option(command, "--maxmemory-policy") == "noeviction"
    assert option(command, "--requirepass").startswith("${REDIS_PASSWORD")
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD")
    assert "redisdata:/data" in redis["volumes"]
    for name in (*APPLICATION, "migrate"):
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD"), (
            name
        )


def test_postgres_is_healthy_only_once_it_listens_on_tcp(services):
    test = services["postgres"]["healthcheck"]["test"]

    assert test[:2] == ["CMD", "pg_isready"]
    assert option(test, "-h") == "127.0.0.1"
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_the_data_lives_in_named_volumes(compose):
    assert set(compose["volumes"]) == {"pgdata", "redisdata"}


def test_beat_health_check_reads_the_schedule_beat_writes(services):
    beat = services["beat"]

    schedule = option(beat["command"], "--schedule")
    assert beat["healthcheck"]["test"] == [
        "CMD",
        "python",
        "deploy/healthcheck.py",
        "beat",
        schedule,
    ]


def test_the_secrets_folder_is_never_committed():
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/secrets/postgres_password"], cwd=REPO, check=False
    )

    assert ignored.returncode == 0


# --- docker-compose's own validation ----------------------------------------------------------


def _compose_cli() -> list[str] | None:
    """Debian's docker-compose (v1) validates a file offline; `docker compose` (v2) too, where
    the plugin is installed. Neither needs a Docker daemon for `config`."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.fixture
def project(tmp_path) -> Path:
    """The compose file beside a `.env` made from .env.example with every blank filled, and
    the files it names, in a folder of its own."""
    shutil.copy(REPO / "docker-compose.yml", tmp_path)
    shutil.copytree(REPO / "deploy", tmp_path / "deploy", ignore=shutil.ignore_patterns("secrets"))
    filled = re.sub(
        r"^([A-Z][A-Z0-9_]*)=$", r"\1=filled-in", (REPO / ".env.example").read_text(), flags=re.M
    )
    (tmp_path / ".env").write_text(filled)
    secrets = tmp_path / "deploy" / "secrets"
    secrets.mkdir()
    for name in ("postgres_password", "database_owner_password"):
        (secrets / name).write_text("filled-in\n")
    return tmp_path


def _config(project: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "neither docker-compose nor the docker compose plugin is installed "
            "(apt-get install docker-compose); the file is still checked through PyYAML above"
        )
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_PASSWORD",)}
    clean.pop("DATABASE_APP_PASSWORD", None)
    return subprocess.run(
        [*cli, "--project-directory", str(project), "-f", str(project / "docker-compose.yml")]
        + ["config", *extra],
        cwd=project,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_docker_compose_accepts_the_file(project):
    done = _config(project)

    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    web = config["services"]["web"]
    # Interpolated from .env, merged from the shared block.
    assert web["environment"]["DATABASE_URL"] == (
        f"postgres://{RUNTIME_ROLE}:filled-in@postgres:5432/infocomune"
    )
    assert web["environment"]["TRUSTED_PROXY"] == "true"
    assert web["environment"]["SECRET_KEY"] == "filled-in"  # from env_file: .env


def test_docker_compose_refuses_to_start_without_the_passwords(project):
    env_file = project / ".env"
    env_file.write_text(re.sub(r"^REDIS_PASSWORD=.*$", "", env_file.read_text(), flags=re.M))

    done = _config(project, "-q")

    assert done.returncode != 0
    assert "REDIS_PASSWORD" in done.stderr
