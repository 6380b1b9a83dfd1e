"""End-to-end broadcast benchmark: is the product ever what limits the send?

    .venv/bin/python -m bench.broadcast            # default sizes, ~5 minutes
    .venv/bin/python -m bench.broadcast --full     # 1,000,000 rows sent for the RSS figure
    .venv/bin/python -m bench.broadcast --smoke    # correctness only, seconds (CI)

Runs on PostgreSQL (DATABASE_URL's server, database `infocomune_bench_broadcast`, dropped and
created on every run) and Redis (BENCH_REDIS_URL, default db 14, keys under a fresh prefix), with
real Celery worker processes (`celery -A bench.worker_app`, the product's app plus a query counter)
and gunicorn, against nginx as the fake Cloud API (echo module for the latency, split_clients for
error injection; its access log records every request body and when it arrived). Each figure is
printed beside a reference measured in the same run, and its target. Exits non-zero when a
delivery is missing or duplicated.

The parts: `__main__` (the options), `runner` (which phases run, in which order), `stack` (the
settings, processes and data of one run), `sending` (one broadcast, checked against the fake's
log), `fake_cloud` (nginx), `processes`, `report`, and one module per phase: `rate`,
`end_to_end`, `fan_out`, `rss`, `statuses` (with the wrk script `statuses.lua`) and `replies`.
"""
