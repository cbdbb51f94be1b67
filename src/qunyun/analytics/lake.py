"""Open a tenant's event lake as Ibis tables on an engine (DuckDB by default, or Spark)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import ibis
import ibis.expr.datatypes as dt
from ibis import BaseBackend
from ibis.expr.types import Table

from qunyun.analytics.engines import connect, empty_table, read_parquet
from qunyun.events.lake import Manifest, TenantLake
from qunyun.events.recent import recent_customers_table
from qunyun.events.schema import KIND_COUNTS, LAKE_COLUMNS, MEMBER_DAILY_COLUMNS

_LAKE_TYPES: dict[str, Any] = {
    "event_id": dt.string,
    "ts": dt.Timestamp(timezone="UTC"),
    "day": dt.date,
    "kind": dt.string,
    "group_key": dt.int32,
    "group_id": dt.string,
    "member_key": dt.int32,
    "member_kind": dt.string,
    "member_id": dt.string,
    "msg_type": dt.string,
    "length": dt.int64,
    "reply_to": dt.string,
    "scene": dt.string,
    "inviter_key": dt.int32,
    "inviter_kind": dt.string,
    "inviter_id": dt.string,
    "red_packet_id": dt.string,
    "amount_fen": dt.int64,
    "order_id": dt.string,
    "content_id": dt.string,
}


_MEMBER_DAILY_TYPES: dict[str, Any] = {
    "day": dt.date,
    "group_key": dt.int32,
    "member_key": dt.int32,
    "is_staff": dt.boolean,
    **dict.fromkeys(KIND_COUNTS.values(), dt.int32),
}


@dataclass
class LakeTables:
    """The lake of one tenant as Ibis tables.

    ``events`` are the events; ``member_daily`` the rollup with one row per local day, group
    (null for events outside groups) and member, counting each kind of event; ``group_daily``
    the stored group-daily figures by group key; ``members`` and
    ``groups`` the dictionaries from dense keys to ids; ``recent_customers`` the last day each
    customer spoke in each group, over the 28 days ending on ``manifest.recent_customers["day"]``
    (``events.recent``), read only when asked for; ``source`` the lake's folder, for the
    rollups stored as arrays (``events.health``).
    """

    backend: BaseBackend
    events: Table
    member_daily: Table
    group_daily: Table
    members: Table
    groups: Table
    manifest: Manifest
    source: TenantLake

    @cached_property
    def recent_customers(self) -> Table:
        """The recent-customers rollup (a NumPy file) as a table of the engine."""
        stored = self.manifest.recent_customers
        schema = ibis.schema({"group_key": dt.int32, "member_key": dt.int32, "last_day": dt.date})
        if not stored:
            return empty_table(self.backend, "recent_customers", schema)
        table = recent_customers_table(self.source.folder, self.manifest)
        return ibis.memtable(table, schema=schema)


def open_lake(
    lake: TenantLake, days: list[str] | None = None, engine: str | None = None
) -> LakeTables:
    """Return the tenant's lake (only ``days`` when given) on a new connection of the engine.

    ``engine`` is ``duckdb`` or ``pyspark``; None takes ``QUNYUN_ANALYTICS_ENGINE``. An empty
    lake gives empty tables of the same columns, so every expression still runs.
    """
    backend = connect(engine)
    manifest = lake.manifest()
    files = [str(path) for path in lake.event_files(manifest, days)]
    if files:
        events = read_parquet(backend, files, "events")
    else:
        events = empty_table(
            backend, "events", ibis.schema({name: _LAKE_TYPES[name] for name in LAKE_COLUMNS})
        )
    rollups = [str(path) for path in lake.member_daily_files(manifest)]
    if rollups:
        member_daily = read_parquet(backend, rollups, "member_daily")
    else:
        member_daily = empty_table(
            backend,
            "member_daily",
            ibis.schema({name: _MEMBER_DAILY_TYPES[name] for name in MEMBER_DAILY_COLUMNS}),
        )
    stored = [str(path) for path in lake.group_daily_files(manifest)]
    if stored:
        group_daily = read_parquet(backend, stored, "group_daily")
    else:
        group_daily = empty_table(
            backend,
            "group_daily",
            ibis.schema(
                {
                    "day": dt.date,
                    "group_key": dt.int32,
                    **dict.fromkeys(
                        (
                            "messages",
                            "active_members",
                            "staff_messages",
                            "customer_messages",
                            "joins",
                            "leaves",
                        ),
                        dt.int64,
                    ),
                }
            ),
        )
    members = _dictionary(
        backend,
        lake,
        manifest.members,
        "members",
        {"member_key": dt.int32, "member_kind": dt.string, "member_id": dt.string},
    )
    groups = _dictionary(
        backend, lake, manifest.groups, "groups", {"group_key": dt.int32, "group_id": dt.string}
    )
    return LakeTables(backend, events, member_daily, group_daily, members, groups, manifest, lake)


def _dictionary(
    backend: BaseBackend, lake: TenantLake, names: list[str], table: str, schema: dict[str, Any]
) -> Table:
    if names:
        return read_parquet(backend, [str(path) for path in lake.paths(names)], table)
    return empty_table(backend, table, ibis.schema(schema))
