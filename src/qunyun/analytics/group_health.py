"""Group health: active, quiet, dormant or dead (僵尸群), with the trend of customer talk.

Health counts what customers (every member who is not staff) say, never staff: a group where
only the rep posts promotions is dead. Over the 28 local days ending on the as-of day:

- **active**: customers spoke on at least ``ACTIVE_DAYS`` of the 28 days, and at least
  ``ACTIVE_SENDERS`` different customers spoke;
- **quiet**: customers spoke in the 28 days, less than that;
- **dormant**: no customer message in the 28 days, but one in the 90 days ending on the as-of day;
- **dead**: no customer message in those 90 days (or no event at all).

The trend compares customer messages of the 28 days with the 28 days before: ``up`` when at
least 20% more (or some after none), ``down`` when at least 20% fewer, ``flat`` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from qunyun.analytics.lake import LakeTables
from qunyun.events.health import FIGURES, LIFE_DAYS, read_group_health
from qunyun.events.lake import TenantLake
from qunyun.events.recent import RECENT_DAYS
from qunyun.groups.models import Group
from qunyun.org.models import Tenant

ACTIVE_DAYS = 8
ACTIVE_SENDERS = 3
TREND_CHANGE = 0.2
STATUSES = ("dead", "dormant", "quiet", "active")
"""Statuses from the worst; exports list groups in this order."""
STATUS_LABELS = {"active": "活跃", "quiet": "冷清", "dormant": "沉睡", "dead": "僵尸"}

COUNTED = (
    "customer_messages",
    "active_days",
    "customer_senders",
    "staff_messages",
    "previous_customer_messages",
    "life_messages",
)
"""The per-group counts health is computed from (null in the engine's result means 0)."""

GROUP_HEALTH_HEADER = (
    "group_id",
    "status",
    "customer_messages",
    "active_days",
    "customer_senders",
    "staff_messages",
    "previous_customer_messages",
    "trend",
    "last_customer_message",
)


@dataclass(frozen=True)
class GroupHealth:
    """One group's figures over the recent 28 days and its status."""

    group_id: str
    customer_messages: int
    active_days: int
    customer_senders: int
    staff_messages: int
    previous_customer_messages: int
    last_customer_message: date | None
    status: str
    trend: str

    def row(self) -> tuple[object, ...]:
        """Return the ``GROUP_HEALTH_HEADER`` row."""
        return (
            self.group_id,
            self.status,
            self.customer_messages,
            self.active_days,
            self.customer_senders,
            self.staff_messages,
            self.previous_customer_messages,
            self.trend,
            self.last_customer_message.isoformat() if self.last_customer_message else "",
        )


def classify(
    customer_messages: int, active_days: int, customer_senders: int, life_messages: int
) -> str:
    """Return the status of a group from its recent and 90-day customer figures."""
    if customer_messages == 0:
        return "dormant" if life_messages else "dead"
    if active_days >= ACTIVE_DAYS and customer_senders >= ACTIVE_SENDERS:
        return "active"
    return "quiet"


def trend(recent: int, previous: int) -> str:
    """Return ``up``, ``down`` or ``flat`` for customer messages now against before."""
    if recent >= previous * (1 + TREND_CHANGE) and recent > previous:
        return "up"
    if recent <= previous * (1 - TREND_CHANGE) and recent < previous:
        return "down"
    return "flat"


def group_health(
    lake: LakeTables, as_of: date, known_groups: Iterable[str] = (), *, stored: bool = True
) -> list[GroupHealth]:
    """Return the health of every group with events up to ``as_of`` and of ``known_groups``.

    ``known_groups`` (the open groups of the database) appear as dead when the lake has
    nothing of them. Ordered from the worst status, then by group id. See
    ``group_health_table`` for ``stored``.
    """
    table = group_health_table(lake, as_of, known_groups, stored=stored)
    # the table's columns are the fields' names
    return [GroupHealth(**row) for row in table.to_pylist()]


def group_health_table(
    lake: LakeTables, as_of: date, known_groups: Iterable[str] = (), *, stored: bool = True
) -> pa.Table:
    """Return ``group_health`` as a table of ``GROUP_HEALTH_HEADER`` columns, in its order.

    On the lake's last day the figures stored by the last refresh are read (``events.health``,
    no query); for any other day, or with ``stored`` off, they are computed by the engine.
    """
    if stored:
        table = stored_group_health(lake.source, as_of, known_groups)
        if table is not None:
            return table
    return _computed(lake, as_of, known_groups)


def stored_group_health(
    lake: TenantLake, as_of: date, known_groups: Iterable[str] = ()
) -> pa.Table | None:
    """Return ``group_health_table`` from the stored figures, None unless they are of ``as_of``.

    Reads two files (the figures and the group dictionary) and no engine, so it is what
    follows an import: one row per group of the lake, in arrays.
    """
    manifest = lake.manifest()
    stored = manifest.group_health
    if not stored or stored["day"] != as_of.isoformat():
        return None
    figures = read_group_health(lake.folder / stored["file"])
    ids = lake.group_ids(manifest)
    count = len(ids)
    values = {name: np.asarray(figures[FIGURES.index(name), :count]) for name in FIGURES}
    last = values["last_customer_message"]
    return _table(
        ids,
        values,
        pa.array(last.astype(np.int32), mask=last < 0).cast(pa.date32()),
        known_groups,
    )


def _computed(lake: LakeTables, as_of: date, known_groups: Iterable[str]) -> pa.Table:
    """Return ``group_health_table`` computed by the engine from the rollups."""
    recent_start = as_of - timedelta(days=RECENT_DAYS - 1)
    previous_start = recent_start - timedelta(days=RECENT_DAYS)
    life_start = as_of - timedelta(days=LIFE_DAYS - 1)
    # the day figures come from the stored group daily (one row per day and group); only the
    # distinct customers need the member-daily rollup, and only its recent days
    daily = lake.group_daily
    daily = daily.filter((daily.day >= min(life_start, previous_start)) & (daily.day <= as_of))
    spoke = daily.customer_messages > 0
    recent = daily.day >= recent_start
    in_life = daily.day >= life_start
    previous = (daily.day >= previous_start) & (daily.day < recent_start)
    per_group = daily.group_by(daily.group_key).aggregate(
        customer_messages=daily.customer_messages.sum(where=recent),
        active_days=spoke.sum(where=recent),
        staff_messages=daily.staff_messages.sum(where=recent),
        previous_customer_messages=daily.customer_messages.sum(where=previous),
        life_messages=daily.customer_messages.sum(where=in_life),
        last_customer_message=daily.day.max(where=spoke & in_life),
    )
    stored = lake.manifest.recent_customers
    if stored and as_of >= date.fromisoformat(stored["day"]):
        # from the lake's last day on, the window's customers are a count, not a distinct
        recent_customers = lake.recent_customers
        speakers = recent_customers.filter(recent_customers.last_day >= recent_start)
    else:
        rollup = lake.member_daily
        speakers = rollup.filter(
            rollup.group_key.notnull()
            & (rollup.messages > 0)
            & ~rollup.is_staff
            & (rollup.day >= recent_start)
            & (rollup.day <= as_of)
        )
        speakers = speakers.select("group_key", "member_key").distinct()
    senders = speakers.group_by("group_key").aggregate(customer_senders=speakers.count())
    seen = lake.group_daily.filter(lake.group_daily.day <= as_of)
    seen = seen.select("group_key").distinct()
    named = (
        seen.join(lake.groups, "group_key")
        .left_join(per_group, "group_key")
        .left_join(senders, "group_key")
    )
    rows = named.select(
        "group_id",
        "customer_senders",
        *(name for name in per_group.columns if name != "group_key"),
    ).to_pyarrow()
    values = {
        name: np.asarray(rows.column(name).fill_null(0).to_numpy(), dtype=np.int64)
        for name in COUNTED
    }
    return _table(
        rows.column("group_id").combine_chunks(),
        values,
        rows.column("last_customer_message").combine_chunks().cast(pa.date32()),
        known_groups,
    )


def _table(
    ids: pa.Array, values: dict[str, np.ndarray], last: pa.Array, known_groups: Iterable[str]
) -> pa.Table:
    """Return the health table of groups ``ids`` with their figures, plus unseen known groups.

    Status and trend are ``classify`` and ``trend`` over whole columns.
    """
    present = set(ids.to_pylist()) if known_groups else set()
    unseen = [group for group in dict.fromkeys(known_groups) if group not in present]
    if unseen:
        ids = pa.concat_arrays([ids, pa.array(unseen, pa.string())])
        values = {
            name: np.concatenate([column, np.zeros(len(unseen), np.int64)])
            for name, column in values.items()
        }
        last = pa.concat_arrays([last, pa.nulls(len(unseen), pa.date32())])
    recent = values["customer_messages"]
    previous = values["previous_customer_messages"]
    is_active = (values["active_days"] >= ACTIVE_DAYS) & (
        values["customer_senders"] >= ACTIVE_SENDERS
    )
    status = np.where(
        recent == 0,
        np.where(values["life_messages"] > 0, STATUSES.index("dormant"), STATUSES.index("dead")),
        np.where(is_active, STATUSES.index("active"), STATUSES.index("quiet")),
    )
    rising = (recent >= previous * (1 + TREND_CHANGE)) & (recent > previous)
    falling = (recent <= previous * (1 - TREND_CHANGE)) & (recent < previous)
    direction = np.where(rising, 0, np.where(falling, 1, 2))
    table = pa.table(
        {
            "group_id": ids,
            "status": pa.DictionaryArray.from_arrays(
                pa.array(status.astype(np.int8)), pa.array(STATUSES)
            ).cast(pa.string()),
            **{name: pa.array(values[name]) for name in GROUP_HEALTH_HEADER[2:7]},
            "trend": pa.DictionaryArray.from_arrays(
                pa.array(direction.astype(np.int8)), pa.array(["up", "down", "flat"])
            ).cast(pa.string()),
            "last_customer_message": last,
            "_status": pa.array(status),
        }
    )
    order = pc.sort_indices(table, [("_status", "ascending"), ("group_id", "ascending")])
    return table.take(order).drop_columns(["_status"])


def open_group_ids(session: Session, tenant: Tenant) -> list[str]:
    """Return the ids of the tenant's open groups (not archived)."""
    query = select(Group.group_id).where(Group.tenant_id == tenant.id, Group.archived_at.is_(None))
    return list(session.scalars(query))
