"""The figures of the console's overview for an actor's scope, from pre-aggregated rows.

Coverage comes from the coverage cells and gaps, group counts from an indexed count, the
leaders from their own seats, the people below a manager from one walk down the manager
index: the cost grows with what the scope holds, not with the tenant. The figures of a scope
are kept per figures version of the tenant (raised by every write that changes them, staff
imports included) and shared by the requests of that scope in this process; the whole
tenant's (HQ, analysts: the largest scope, the same for all of them) is computed by one
request at a time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
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
    """Return the overview of the actor's scope, kept per scope and figures version.

    The whole tenant's (HQ, analysts) is computed by one request while the others wait; a
    narrower scope's is computed by whoever asks, and the last ``KEPT_SCOPES`` are kept.
    """
    tenant_key = (str(session.get_bind().engine.url), tenant.id, tenant.created_at)
    scope = (
        None
        if actor.sees_whole_tenant
        else (actor.kind, actor.role, actor.staff_id, actor.distributor_id)
    )
    key = (*tenant_key, scope)
    # read the version first: figures newer than their version are only recomputed once more
    version = tenant.figures_version
    with _guard:
        cached = _cache.get(key)
        if cached is not None and cached[0] == version:
            _cache.move_to_end(key)
            return cached[1]
        lock = _locks.setdefault(tenant_key, threading.Lock()) if scope is None else None
    if lock is None:
        return _keep(key, version, _compute(session, actor, tenant))
    with lock:  # one request computes the whole tenant's, the others wait and share
        with _guard:
            cached = _cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        return _keep(key, version, _compute(session, actor, tenant))


KEPT_SCOPES = 512
"""Overviews kept per process (a few KiB each): a day's active reps and their bosses."""

_Key = tuple[Any, ...]
_cache: OrderedDict[_Key, tuple[int, Overview]] = OrderedDict()
_locks: dict[_Key, threading.Lock] = {}
_guard = threading.Lock()


def _keep(key: _Key, version: int, overview: Overview) -> Overview:
    with _guard:
        _cache[key] = (version, overview)
        _cache.move_to_end(key)
        while len(_cache) > KEPT_SCOPES:
            _cache.popitem(last=False)
    return overview


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
