"""The product's Celery app, as `celery -A comune` runs it, plus a query counter for the
benchmark: every SQL statement a worker process runs is counted and added to a Redis key after
each task, so the benchmark can divide queries by delivered messages. Nothing else differs."""

from __future__ import annotations

import redis
from celery.signals import task_postrun
from django.db.backends.signals import connection_created

from comune.celery import app

QUERIES_KEY = "bench:queries"
_count = 0


def _counting(execute, sql, params, many, context):
    global _count
    _count += 1
    return execute(sql, params, many, context)


def _on_connection(sender, connection, **kwargs):
    if _counting not in connection.execute_wrappers:
        connection.execute_wrappers.append(_counting)


connection_created.connect(_on_connection)


@task_postrun.connect
def _report(**kwargs):
    global _count
    from django.conf import settings

    if _count:
        redis.Redis.from_url(settings.REDIS_URL).incrby(QUERIES_KEY, _count)
        _count = 0


__all__ = ["app"]
