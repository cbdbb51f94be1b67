"""The growth analyses for one reader: VIP candidates, funnel, cohorts, reach and referrals.

The console and the API show the same figures as ``qunyun report`` and the exports, within
the reader's scope: the group ids (or the store condition) an access guard gives. ``None``
groups mean the whole tenant, exactly the CLI's figures. Each analysis reads the lake with
DuckDB (0.6–1.4 s at 10^7 events), so a result is kept per lake version, analysis and scope
for ``REFRESH_SECONDS``: master data (store names, purchase, VIP groups) may lag a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from qunyun.analytics.figures import REFRESH_SECONDS
from qunyun.analytics.funnel import FUNNEL_HEADER, funnel_rows
from qunyun.analytics.lake import LakeTables, open_lake
from qunyun.analytics.reach import TIERS, tier_sizes
from qunyun.analytics.report import latest_cohorts, reach_summary, referral_summary
from qunyun.analytics.tiers import known_matrices
from qunyun.analytics.vip import store_values, vip_candidates
from qunyun.channel.models import Consumer, ContactKind, Distributor, Store
from qunyun.events.actions import tenant_lake
from qunyun.groups.models import Group, Matrix, Membership
from qunyun.org.models import Staff, Tenant
from qunyun.org.regions import catalogue

CHUNK = 5000
"""Ids per ``IN`` list (SQLite takes at most 32,766 parameters)."""


@dataclass(frozen=True)
class VipCandidate:
    """A VIP candidate store: its province rank, value, activity and whether it sits in a VIP group."""

    province_code: str
    province: str
    rank: int
    store_id: str
    name: str
    value_fen: int
    annual_purchase_fen: int
    order_fen: int
    score: float
    level: str
    in_vip_group: bool


@dataclass(frozen=True)
class VipCandidates:
    """The VIP candidates in a scope, by province then rank (``as_of`` None: empty lake)."""

    as_of: date | None
    share: float
    candidates: list[VipCandidate] = field(default_factory=list)

    def per_province(self) -> dict[str, list[VipCandidate]]:
        """Return the candidates by province name, provinces by code."""
        found: dict[str, list[VipCandidate]] = {}
        for candidate in self.candidates:
            found.setdefault(candidate.province, []).append(candidate)
        return found


@dataclass(frozen=True)
class Growth:
    """One analysis in a scope: its figures (None when the lake is empty) as of a day."""

    as_of: date | None
    figures: Any


_Result = TypeVar("_Result")
_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
_guard = threading.Lock()
CACHE_ENTRIES = 256


@dataclass(frozen=True)
class _Reading:
    """The lake of a tenant at one version, and the as-of day (None: the lake is empty)."""

    tenant: Tenant
    key: tuple[Any, ...]
    as_of: date | None

    @property
    def day(self) -> date:
        """Return the day the analyses run on: ``as_of``, or ``NO_EVENTS_BEFORE`` when earlier.

        The lake refuses events before 2000, so every earlier day has the same figures; the
        analyses' windows (90 days back) would not fit in a ``date`` near year 1.
        """
        assert self.as_of is not None
        return max(self.as_of, NO_EVENTS_BEFORE)

    def cached(self, key: tuple[Any, ...], compute: Callable[[LakeTables], _Result]) -> _Result:
        """Return ``compute(lake)``, kept per lake version and ``key`` for ``REFRESH_SECONDS``."""
        full = (*self.key, self.day, *key)
        with _guard:
            hit = _cache.get(full)
            if hit is not None and time.monotonic() - hit[0] < REFRESH_SECONDS:
                return hit[1]  # type: ignore[no-any-return]
        result = compute(open_lake(tenant_lake(self.tenant)))
        with _guard:
            if len(_cache) >= CACHE_ENTRIES:
                _cache.clear()
            _cache[full] = (time.monotonic(), result)
        return result


NO_EVENTS_BEFORE = date(1999, 12, 30)
"""A day before the local day of every event the lake accepts (it refuses times before 2000)."""


def _reading(tenant: Tenant, as_of: date | None) -> _Reading:
    """Return the tenant's lake as of ``as_of`` (default: its last day), opened only on a miss."""
    lake = tenant_lake(tenant)
    manifest = lake.manifest()
    days = sorted(manifest.events)
    day = (as_of or date.fromisoformat(days[-1])) if days else None
    return _Reading(tenant, (str(lake.folder), lake.created, manifest.version), day)


def forget_growth() -> None:
    """Drop every kept result (tests that change master data under one lake version use this)."""
    with _guard:
        _cache.clear()


def _scope_key(within: Collection[str] | None) -> frozenset[str] | None:
    return None if within is None else frozenset(within)


def read_vip_candidates(
    session: Session,
    tenant: Tenant,
    stores: ColumnElement[bool],
    share: float,
    as_of: date | None = None,
) -> VipCandidates:
    """Return the VIP candidates among the stores ``stores`` selects (an access guard's condition).

    Candidates are chosen over the whole tenant (a province's quota counts all its active
    stores); the scope only decides which of them the reader sees.
    """
    reading = _reading(tenant, as_of)
    day = reading.as_of
    if day is None:
        return VipCandidates(None, share)
    chosen = reading.cached(
        ("vip", share),
        lambda lake: (
            vip_candidates(lake, store_values(session, tenant), reading.day, share)
            .to_pyarrow()
            .to_pylist()
        ),
    )
    ids = [row["store_id"] for row in chosen]
    names: dict[str, str] = {}
    for part in _chunks(ids):
        query = select(Store.store_id, Store.name).where(stores, Store.store_id.in_(part))
        names.update(((store_id, name) for store_id, name in session.execute(query)))
    in_vip = _in_vip_groups(session, tenant, list(names))
    provinces = catalogue().by_code
    return VipCandidates(
        day,
        share,
        [
            VipCandidate(
                province_code=row["province_code"],
                province=provinces[row["province_code"]].name,
                rank=int(row["rank"]),
                store_id=row["store_id"],
                name=names[row["store_id"]],
                value_fen=int(row["value_fen"]),
                annual_purchase_fen=int(row["annual_purchase_fen"]),
                order_fen=int(row["order_fen"]),
                score=round(float(row["score"]), 2),
                level=row["level"],
                in_vip_group=row["store_id"] in in_vip,
            )
            for row in chosen
            if row["store_id"] in names
        ],
    )


def _in_vip_groups(session: Session, tenant: Tenant, store_ids: list[str]) -> set[str]:
    """Return the stores among ``store_ids`` with an open stay in an open VIP group."""
    found: set[str] = set()
    for part in _chunks(store_ids):
        query = (
            select(Membership.member_id)
            .join(
                Group,
                (Group.tenant_id == Membership.tenant_id) & (Group.group_id == Membership.group_id),
            )
            .where(
                Membership.tenant_id == tenant.id,
                Membership.member_kind == ContactKind.STORE,
                Membership.member_id.in_(part),
                Membership.left_at.is_(None),
                Group.matrix == Matrix.VIP,
                Group.archived_at.is_(None),
            )
        )
        found.update(session.scalars(query))
    return found


def read_funnel(
    session: Session, tenant: Tenant, within: Collection[str] | None, as_of: date | None = None
) -> Growth:
    """Return the AARRR funnel per matrix (``FUNNEL_HEADER`` dicts) of the groups ``within``."""
    reading = _reading(tenant, as_of)
    day = reading.as_of
    if day is None:
        return Growth(None, None)
    rows = reading.cached(
        ("funnel", _scope_key(within)),
        lambda lake: funnel_rows(lake, reading.day, known_matrices(session, tenant), within),
    )
    return Growth(day, [dict(zip(FUNNEL_HEADER, row, strict=True)) for row in rows])


def read_cohorts(
    tenant: Tenant, within: Collection[str] | None, as_of: date | None = None
) -> Growth:
    """Return the latest weekly cohorts of the groups ``within`` (see ``report.latest_cohorts``)."""
    reading = _reading(tenant, as_of)
    day = reading.as_of
    if day is None:
        return Growth(None, None)
    cohorts = reading.cached(
        ("cohorts", _scope_key(within)), lambda lake: latest_cohorts(lake, reading.day, within)
    )
    return Growth(day, cohorts)


def read_reach(
    session: Session, tenant: Tenant, within: Collection[str] | None, as_of: date | None = None
) -> Growth:
    """Return reach down the tiers of the groups ``within``, with each tier's group count."""
    reading = _reading(tenant, as_of)
    day = reading.as_of
    if day is None:
        return Growth(None, None)

    def compute(lake: LakeTables) -> dict[str, Any]:
        known = known_matrices(session, tenant)
        summary = reach_summary(lake, reading.day, known, within)
        sizes = tier_sizes(lake, known, within)
        return {**summary, "groups": {tier: sizes[tier] for tier in TIERS}}

    return Growth(day, reading.cached(("reach", _scope_key(within)), compute))


def read_referrals(
    session: Session,
    tenant: Tenant,
    within: Collection[str] | None,
    top: int,
    as_of: date | None = None,
) -> Growth:
    """Return the referral trees' counts and the first ``top`` inviters, with their names."""
    reading = _reading(tenant, as_of)
    day = reading.as_of
    if day is None:
        return Growth(None, None)
    summary = reading.cached(
        ("referrals", _scope_key(within), top),
        lambda lake: referral_summary(lake, reading.day, within, top),
    )
    names = contact_names(
        session, tenant, ((row["member_kind"], row["member_id"]) for row in summary["top"])
    )
    top_rows = [
        {**row, "name": names.get((row["member_kind"], row["member_id"]))} for row in summary["top"]
    ]
    return Growth(day, {**summary, "top": top_rows})


_CONTACTS: dict[str, tuple[Any, Any]] = {
    ContactKind.STORE.value: (Store, Store.store_id),
    ContactKind.DISTRIBUTOR.value: (Distributor, Distributor.distributor_id),
    ContactKind.CONSUMER.value: (Consumer, Consumer.consumer_id),
    ContactKind.STAFF.value: (Staff, Staff.staff_id),
}


def contact_names(
    session: Session, tenant: Tenant, members: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Return the names of the (member_kind, member_id) the master data knows."""
    wanted: dict[str, list[str]] = {}
    for kind, member_id in members:
        wanted.setdefault(kind, []).append(member_id)
    names: dict[tuple[str, str], str] = {}
    for kind, ids in wanted.items():
        if kind not in _CONTACTS:
            continue
        model, key = _CONTACTS[kind]
        for part in _chunks(ids):
            rows = session.execute(
                select(key, model.name).where(model.tenant_id == tenant.id, key.in_(part))
            )
            names.update(((kind, member_id), name) for member_id, name in rows)
    return names


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
