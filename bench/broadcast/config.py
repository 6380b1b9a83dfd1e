"""What the parts of the benchmark share: where things are, the fake number, the sizes."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from gateway import testing

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BENCH_DATABASE = "infocomune_bench_broadcast"
APP_SECRET = "bench-app-secret"  # noqa: S105 - the benchmark's own, signs the webhooks it posts
# The number the product sends from, which the webhooks built by gateway.testing name.
PHONE_NUMBER_ID = testing.PHONE_NUMBER_ID


@dataclass(frozen=True)
class Sizes:
    rate80: int  # rows sent at 80 msg/s
    rss_small: int  # rows of the small broadcast (its worker's RSS)
    e2e: int  # rows sent with the rate limit off, then at 1,000 msg/s
    fan_out: tuple[int, ...]
    rss_large: int  # rows of the large broadcast
    send_large: bool  # send all of the large broadcast, or cancel it after `large_seconds`
    statuses: int  # messages whose three statuses are posted
    replies: int
    emergency: int  # rows of the emergency sent at 1,000 msg/s


SMOKE = Sizes(200, 1_000, 2_000, (5_000,), 5_000, True, 300, 10, 2_000)
DEFAULT = Sizes(2_400, 10_000, 50_000, (100_000, 1_000_000), 1_000_000, False, 10_000, 100, 100_000)
FULL = Sizes(2_400, 10_000, 100_000, (100_000, 1_000_000), 1_000_000, True, 10_000, 200, 100_000)
