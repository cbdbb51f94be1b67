"""What the lake tells the planner: VIP candidates and dead groups (僵尸群).

Both are measured up to the lake's last day. A lake without events tells nothing, and the
planner keeps its rules from the master data alone (purchase and closeness for VIPs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from qunyun.events.lake import tenant_lake
from qunyun.org.models import Tenant

if TYPE_CHECKING:
    from qunyun.analytics.vip import StoreValue


@dataclass(frozen=True)
class PlanSignals:
    """The lake's measurements a plan uses, as of its last day."""

    as_of: date
    vip_stores: frozenset[str]
    dead_groups: tuple[str, ...]


def plan_signals(
    tenant: Tenant,
    stores: Callable[[], Sequence[StoreValue]],
    open_groups: Sequence[str],
    share: float,
    root: Path | None = None,
) -> PlanSignals | None:
    """Return the VIP candidates and the dead open groups, or None when the lake is empty.

    ``stores`` is called only when the lake holds events (a national brand has millions).
    The analyses' stack (Ibis, DuckDB) is imported only then: a second and more.
    """
    where = tenant_lake(tenant, root)
    if not where.manifest().events:
        return None
    from qunyun.analytics.group_health import group_health
    from qunyun.analytics.lake import open_lake
    from qunyun.analytics.member_levels import latest_day
    from qunyun.analytics.vip import vip_candidates

    lake = open_lake(where)
    as_of = latest_day(lake)
    if as_of is None:
        return None
    chosen = vip_candidates(lake, stores(), as_of, share).select("store_id").to_pyarrow()
    known = set(open_groups)
    dead = tuple(
        health.group_id
        for health in group_health(lake, as_of, open_groups)
        if health.status == "dead" and health.group_id in known
    )
    return PlanSignals(as_of, frozenset(chosen.column("store_id").to_pylist()), dead)
