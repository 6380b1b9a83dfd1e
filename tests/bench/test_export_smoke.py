"""The consent-export benchmark at its smoke sizes: it seeds and exports exactly what it says.
Timings are the benchmark's business, not the test's."""

import pytest

from bench.export_consent import SMOKE_SIZES, run, table

pytestmark = pytest.mark.django_db


def test_the_benchmark_exports_every_record_it_seeds():
    results = run(SMOKE_SIZES)

    assert [(r.size, r.format, r.rows) for r in results] == [
        (size, kind, size) for size in SMOKE_SIZES for kind in ("csv", "json")
    ]
    assert f"{max(SMOKE_SIZES)}/{min(SMOKE_SIZES)} records" in table(results)
