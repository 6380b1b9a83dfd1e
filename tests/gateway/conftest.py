"""Shared helpers for the gateway tests: the stored Meta payloads and the fake Cloud API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.cloud_api import FakeCloudAPI

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def fake_api() -> Iterator[FakeCloudAPI]:
    with FakeCloudAPI() as fake:
        yield fake
