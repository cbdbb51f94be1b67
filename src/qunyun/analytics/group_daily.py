"""Group daily: per local day and group, messages, speakers, staff versus customers, joins, leaves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ibis.expr.types import Table

from qunyun.analytics.lake import LakeTables
from qunyun.events.lake import TenantLake

GROUP_DAILY_HEADER = (
    "date",
    "group_id",
    "messages",
    "active_members",
    "staff_messages",
    "customer_messages",
    "joins",
    "leaves",
)


def daily_by_group_key(member_daily: Table) -> Table:
    """Return group daily by dense group key from member-daily rollup rows.

    One row per (day, group) with at least one event; distinct senders are the rollup's rows
    with messages (one row per day, group and member), so no distinct count is needed.
    Events outside groups are left out. Imports compute the same figures with NumPy and store
    them per day (``events.actions.day_rollups``); the Spark parity tests hold the stored
    rollups to this expression and to ``daily_from_events`` on every engine.
    """
    rollup = member_daily.filter(member_daily.group_key.notnull())
    return rollup.group_by([rollup.day, rollup.group_key]).aggregate(
        messages=rollup.messages.sum().cast("int64"),
        active_members=(rollup.messages > 0).sum().cast("int64"),
        staff_messages=rollup.messages.sum(where=rollup.is_staff).fill_null(0).cast("int64"),
        customer_messages=rollup.messages.sum(where=~rollup.is_staff).fill_null(0).cast("int64"),
        joins=rollup.joins.sum().cast("int64"),
        leaves=rollup.leaves.sum().cast("int64"),
    )


def daily_from_events(events: Table) -> Table:
    """Return group daily by dense group key straight from the lake's events.

    The definition itself, with no rollup in between: ``messages`` counts ``message`` events,
    ``active_members`` the distinct members (a dense key per member kind and id) among their
    senders, staff and customer messages by ``member_kind``, joins and leaves; one row per
    (local day, group) with at least one event. Events outside groups are left out.
    """
    inside = events.filter(events.group_key.notnull())
    is_message = inside.kind == "message"
    is_staff = inside.member_kind == "staff"
    return inside.group_by([inside.day, inside.group_key]).aggregate(
        messages=inside.count(where=is_message).cast("int64"),
        active_members=inside.member_key.nunique(where=is_message).cast("int64"),
        staff_messages=inside.count(where=is_message & is_staff).cast("int64"),
        customer_messages=inside.count(where=is_message & ~is_staff).cast("int64"),
        joins=inside.count(where=inside.kind == "join").cast("int64"),
        leaves=inside.count(where=inside.kind == "leave").cast("int64"),
    )


def group_daily(lake: LakeTables) -> Table:
    """Return the group-daily expression over the stored per-day results, with group ids.

    ``date`` is the tenant-local calendar day fixed at ingestion. Rows are ordered by date,
    then group id.
    """
    daily = lake.group_daily
    named = daily.join(lake.groups, daily.group_key == lake.groups.group_key)
    return named.select(
        date=named.day,
        group_id=named.group_id,
        **{name: named[name] for name in GROUP_DAILY_HEADER[2:]},
    ).order_by(["date", "group_id"])


def group_daily_rows(lake: LakeTables) -> Iterator[tuple[object, ...]]:
    """Yield the group-daily rows in ``GROUP_DAILY_HEADER`` order, dates as YYYY-MM-DD."""
    table: pa.Table = group_daily(lake).to_pyarrow()
    for batch in table.to_batches(max_chunksize=100_000):
        columns = batch.to_pydict()
        dates = [day.isoformat() for day in columns["date"]]
        yield from zip(dates, *(columns[name] for name in GROUP_DAILY_HEADER[1:]), strict=True)


def day_group_daily(lake: TenantLake, day: date) -> pa.Table:
    """Return the group-daily rows of one day (``GROUP_DAILY_HEADER``), ordered by group id.

    Read from the day's stored rollup and the group dictionary, without an engine: what a
    refresh of that day has just written (``events.actions.day_rollups``).
    """
    manifest = lake.manifest()
    schema = pa.schema(
        [("date", pa.date32()), ("group_id", pa.string())]
        + [(name, pa.int64()) for name in GROUP_DAILY_HEADER[2:]]
    )
    stored = [
        pq.read_table(str(path), partitioning=None)
        for path in lake.paths(manifest.group_daily.get(day.isoformat(), []))
    ]
    if not stored:
        return schema.empty_table()
    daily = pa.concat_tables(stored)
    ids = lake.group_ids(manifest).take(daily.column("group_key").combine_chunks())
    table = pa.Table.from_arrays(
        [daily.column("day"), ids, *(daily.column(name) for name in GROUP_DAILY_HEADER[2:])],
        schema=schema,
    )
    return table.take(pc.sort_indices(table, [("group_id", "ascending")]))
