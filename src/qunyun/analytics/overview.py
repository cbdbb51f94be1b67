"""The figures of the console's overview for an actor's scope, from pre-aggregated rows.

Coverage comes from the coverage cells and gaps, group counts from an indexed count, the
leaders from their own seats: the cost grows with what the scope holds, not with the tenant.
For the actors who see the whole tenant (HQ, analysts) — the largest scope, the same for all
of them — the figures are computed once per figures version of the tenant (raised by every
write that changes them) and shared by their requests in this process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qunyun.analytics.staff_silence import LEADER_ROLES, SeatedLeader, seated_leaders
from qunyun.groups.figures import CoverageFigures, coverage_figures
from qunyun.groups.models import Group, Matrix
from qunyun.groups.queries import groups_by_matrix
from qunyun.org.access import Actor, coverage_in_scope, groups_in_scope, staff_in_scope
from qunyun.org.models import Staff, Tenant

UNCOVERED_ROWS = 20
"""Stores outside every group listed on the overview (the first by id)."""


@dataclass
class Overview:
    """Coverage, groups per matrix, the open groups and the seated leaders in a scope."""

    coverage: CoverageFigures
    by_matrix: dict[Matrix, int]
    group_ids: list[str]
    leaders: list[SeatedLeader]
    derived: dict[Any, Any] = field(default_factory=dict)
    """What an adapter derives from these figures (charts), kept as long as they are."""


def overview_of(session: Session, actor: Actor, tenant: Tenant) -> Overview:
    """Return the overview of the actor's scope (shared per figures version for HQ)."""
    if not actor.sees_whole_tenant:
        return _compute(session, actor, tenant)
    key = (str(session.get_bind().engine.url), tenant.id, tenant.created_at)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # one request computes, the others wait and share
        cached = _cache.get(key)
        if cached is not None and cached[0] == tenant.figures_version:
            return cached[1]
        # read the version first: figures newer than their version are only recomputed once more
        version = tenant.figures_version
        overview = _compute(session, actor, tenant)
        _cache[key] = (version, overview)
        return overview


_cache: dict[tuple[str, int, datetime], tuple[int, Overview]] = {}
_locks: dict[tuple[str, int, datetime], threading.Lock] = {}
_guard = threading.Lock()


def _compute(session: Session, actor: Actor, tenant: Tenant) -> Overview:
    coverage = coverage_figures(
        session, tenant, coverage_in_scope(session, actor, tenant), UNCOVERED_ROWS
    )
    within = groups_in_scope(session, actor, tenant)
    group_ids = list(
        session.scalars(
            select(Group.group_id)
            .where(within, Group.archived_at.is_(None))
            .order_by(Group.group_id)
        )
    )
    people = set(
        session.scalars(
            select(Staff.staff_id).where(
                staff_in_scope(session, actor, tenant), Staff.role.in_(LEADER_ROLES)
            )
        )
    )
    leaders = seated_leaders(session, tenant, people)  # reps and supervisors have none
    return Overview(coverage, groups_by_matrix(session, within), group_ids, leaders)
