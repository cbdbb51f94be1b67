"""Group daily: per local day and group, messages, speakers, staff versus customers, joins, leaves."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from ibis.expr.types import Table

from qunyun.analytics.lake import LakeTables

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


def group_daily(lake: LakeTables) -> Table:
    """Return the group-daily expression: one row per (day, group) with at least one event.

    Read from the member-daily rollup (one row per day, group and member), so that distinct
    senders are the rollup's rows with messages: no distinct count over events. ``day`` is
    the tenant-local calendar day fixed at ingestion; events outside groups are left out.
    Rows are ordered by day, then group id.
    """
    rollup = lake.member_daily.filter(lake.member_daily.group_key.notnull())
    speaks = rollup.messages > 0
    daily = rollup.group_by([rollup.day, rollup.group_key]).aggregate(
        messages=rollup.messages.sum(),
        active_members=speaks.sum(),
        staff_messages=rollup.messages.sum(where=rollup.is_staff),
        customer_messages=rollup.messages.sum(where=~rollup.is_staff),
        joins=rollup.joins.sum(),
        leaves=rollup.leaves.sum(),
    )
    named = daily.join(lake.groups, daily.group_key == lake.groups.group_key)
    return named.select(
        date=named.day,
        group_id=named.group_id,
        messages=named.messages.cast("int64"),
        active_members=named.active_members.cast("int64"),
        staff_messages=named.staff_messages.fill_null(0).cast("int64"),
        customer_messages=named.customer_messages.fill_null(0).cast("int64"),
        joins=named.joins.cast("int64"),
        leaves=named.leaves.cast("int64"),
    ).order_by(["date", "group_id"])


def group_daily_rows(lake: LakeTables) -> Iterator[tuple[object, ...]]:
    """Yield the group-daily rows in ``GROUP_DAILY_HEADER`` order, dates as YYYY-MM-DD."""
    table: pa.Table = group_daily(lake).to_pyarrow()
    for batch in table.to_batches(max_chunksize=100_000):
        columns = batch.to_pydict()
        dates = [day.isoformat() for day in columns["date"]]
        yield from zip(dates, *(columns[name] for name in GROUP_DAILY_HEADER[1:]), strict=True)
