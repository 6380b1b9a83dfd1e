"""Every setting the product reads is named in `.env.example` and in README's configuration
table, and neither names one it does not read: a deployer who follows either misses nothing."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def settings_read() -> set[str]:
    """The environment variables comune/settings.py reads: env("X"), env.<type>("X", …) and
    _secret("X") (a required secret)."""
    tree = ast.parse((REPO / "comune" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        function = node.func
        reads = (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and function.value.id == "env"
        ) or (isinstance(function, ast.Name) and function.id in ("env", "_secret"))
        first = node.args[0]
        if reads and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def compose_variables() -> set[str]:
    """The variables docker-compose.yml interpolates (${X…}) from `.env`."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (REPO / "docker-compose.yml").read_text()))


def env_example_names() -> set[str]:
    """NAME=… lines, and the commented `# NAME=default` ones."""
    text = (REPO / ".env.example").read_text()
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def readme_configuration_names() -> set[str]:
    """The names in the first column of README's table under "## Configuration"."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for row in re.findall(r"^\| (.+?) \|", section, re.MULTILINE):
        names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", row))
    return names


def test_the_reader_finds_the_settings_it_should():
    # The parser itself: plain, typed, multi-line and secret reads are all found.
    found = settings_read()

    assert {"DEBUG", "DATABASE_URL", "EMAIL_URL", "SECRET_KEY", "CONSENT_LOG_KEY"} <= found
    assert "WHATSAPP_WEBHOOK_BODY_TIMEOUT_SECONDS" in found  # env.float(\n "…")
    assert len(found) > 60


def test_env_example_names_every_setting_and_nothing_else():
    read, named = settings_read(), env_example_names()

    assert sorted(read - named) == [], "settings missing from .env.example"
    assert sorted(named - read - compose_variables()) == [], ".env.example names unread settings"


def test_env_example_holds_every_variable_the_compose_file_needs():
    assert sorted(compose_variables() - env_example_names()) == []
    assert compose_variables() == {"DATABASE_APP_PASSWORD", "REDIS_PASSWORD"}


def test_readme_configuration_table_names_every_setting_and_nothing_else():
    read, documented = settings_read(), readme_configuration_names()

    assert sorted(read - documented) == [], "settings missing from README's configuration table"
    assert sorted(documented - read) == [], "README's configuration table names unread settings"


def test_env_example_holds_no_secret():
    secrets = ("SECRET_KEY", "CONSENT_LOG_KEY", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
    text = (REPO / ".env.example").read_text()
    passwords = [name for name in env_example_names() if name.endswith(("PASSWORD", "TOKEN"))]

    for name in (*secrets, *passwords):
        assert re.search(rf"^{name}=$", text, re.MULTILINE), f"{name} is not left empty"
