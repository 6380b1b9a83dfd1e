"""The set-based statements of sending: a fan-out slice, a bulk update joined from arrays, and
locks taken in id order. Everything here writes many Delivery rows in one statement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from broadcasts.models import Delivery
from subscribers.models import Subscriber


def deliveries_insert_slice(*, broadcast_id: int, start: int, stop: int, now: datetime) -> int:
    """One queued Delivery for every active subscriber with an id in [start, stop); returns the
    rows made. A slice that meets rows made before (a restarted fan-out, or new subscribers
    since) is inserted again skipping those."""
    sql = f"""
        INSERT INTO {Delivery._meta.db_table}
            (broadcast_id, subscriber_id, status, attempts, queued_at,
             error_title, error_retryable)
        SELECT %s, s.id, %s, 0, %s, '', %s
        FROM {Subscriber._meta.db_table} s
        WHERE s.status = %s AND s.id >= %s AND s.id < %s
    """  # noqa: S608 - table names come from models, values are parameters
    params: list[Any] = [
        broadcast_id,
        Delivery.Status.QUEUED,
        now,
        False,
        Subscriber.Status.ACTIVE,
        start,
        stop,
    ]
    with connection.cursor() as cursor:
        try:
            # The usual case, a slice never fanned out: a plain INSERT is a third cheaper than
            # one that checks each row for a conflict first.
            with transaction.atomic():
                cursor.execute(sql, params)
        except IntegrityError:
            # Rows of this slice exist (a done slice fails on its first row, at little cost).
            cursor.execute(f"{sql} ON CONFLICT (broadcast_id, subscriber_id) DO NOTHING", params)
        return max(cursor.rowcount, 0)


def deliveries_update_each(
    values: dict[int, tuple],
    *,
    columns: tuple[tuple[str, str], ...],
    only_from: tuple[str, ...] = (),
    **common: object,
) -> int:
    """Set `columns` to each row's own values (rows by id) and `common` fields to shared ones,
    in one statement. PostgreSQL joins one array per column, so the statement's text and its
    few parameters are the same whatever the batch; elsewhere (SQLite's small installs) one
    UPDATE per row, in the caller's transaction. With `only_from`, only rows in one of those
    statuses change."""
    if not values:
        return 0
    names = [name for name, _sql_type in columns]
    if connection.vendor != "postgresql":
        base = Delivery.objects.filter(status__in=only_from) if only_from else Delivery.objects
        changed = 0
        for pk, row in values.items():
            target = base.filter(pk=pk)
            changed += target.update(**common, **dict(zip(names, row, strict=True)))
        return changed
    quote = connection.ops.quote_name
    assignments = [f"{quote(name)} = %s" for name in common]
    assignments += [f"{quote(name)} = v.{quote(name)}" for name in names]
    arrays = ", ".join(["%s::bigint[]", *(f"%s::{sql_type}[]" for _n, sql_type in columns)])
    condition = " AND d.status = ANY(%s)" if only_from else ""
    per_column = [list(column) for column in zip(*values.values(), strict=True)]
    params: list[Any] = [*common.values(), list(values), *per_column]
    if only_from:
        params.append(list(only_from))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} AS d SET {', '.join(assignments)} "  # noqa: S608 - names from the model
            f"FROM unnest({arrays}) AS v(id, {', '.join(quote(n) for n in names)}) "
            f"WHERE d.id = v.id{condition}",
            params,
        )
        return cursor.rowcount


def deliveries_mark_attempted(*, ids: list[int], claimed_at: datetime) -> set[int]:
    """Mark these rows attempted, if they are still `sending` under this claim; returns the
    ids marked. One UPDATE, committed at once in autocommit; a second look only when some row
    was no longer ours."""
    now = timezone.now()
    ours = Delivery.objects.filter(
        pk__in=ids, status=Delivery.Status.SENDING, claimed_at=claimed_at
    )
    if ours.filter(attempted_at__isnull=True).update(attempted_at=now) == len(ids):
        return set(ids)
    return set(ours.filter(attempted_at=now).values_list("pk", flat=True))


def deliveries_lock_in_id_order(pks: list[int]) -> None:
    """Writers that lock several deliveries take them in id order: two of them never wait on
    each other in a circle (a deadlock PostgreSQL would break by failing one)."""
    list(Delivery.objects.select_for_update().filter(pk__in=pks).order_by("pk").values_list("pk"))
