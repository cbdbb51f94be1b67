"""Community figures for the console and the API, computed once per version of the lake.

A page of groups or the overview must not scan the lake on every request. The figures here —
the health of every group the lake knows and the last 90 days of group daily as arrays — are
computed from the stored rollups when a request first needs them after the lake changed, and
then shared by every request of every tenant's user until the lake changes again. A lake that
changes all the time (a feed posting every second) is recomputed at most every
``REFRESH_SECONDS``: health counts 28 days, a minute's lag does not change it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from qunyun.analytics.group_health import STATUSES, GroupHealth, group_health
from qunyun.analytics.lake import open_lake
from qunyun.analytics.member_levels import latest_day, member_levels
from qunyun.analytics.staff_silence import LeaderVoice, SeatedLeader, staff_silence
from qunyun.events.lake import TenantLake

TREND_DAYS = 90
REFRESH_SECONDS = 60.0


@dataclass
class CommunityFigures:
    """Group health and the daily figures of the last ``TREND_DAYS`` days up to ``as_of``."""

    lake: TenantLake
    version: int
    as_of: date
    health: dict[str, GroupHealth]
    days: list[date]
    rows: dict[str, int]
    active_members: np.ndarray
    messages: np.ndarray
    computed_at: float = field(default_factory=time.monotonic)
    _silence: dict[tuple[SeatedLeader, ...], list[LeaderVoice]] = field(default_factory=dict)

    def health_of(self, group_id: str) -> GroupHealth:
        """Return the group's health; a group the lake has never heard of is dead."""
        found = self.health.get(group_id)
        if found is not None:
            return found
        return GroupHealth(group_id, 0, 0, 0, 0, 0, None, "dead", "flat")

    def health_counts(self, group_ids: Iterable[str]) -> dict[str, int]:
        """Return how many of the groups have each status, from the worst."""
        counts = dict.fromkeys(STATUSES, 0)
        for group_id in group_ids:
            counts[self.health_of(group_id).status] += 1
        return counts

    def daily(self, group_ids: Iterable[str] | None) -> tuple[list[int], list[int]]:
        """Return active members and messages per day summed over the groups (None: all).

        A member active in two groups on a day counts in both: these are group figures.
        """
        if group_ids is None:
            chosen = slice(None)
        else:
            indexes = [self.rows[g] for g in group_ids if g in self.rows]
            if not indexes:
                return [0] * len(self.days), [0] * len(self.days)
            chosen = np.array(indexes)  # type: ignore[assignment]
        active = self.active_members[chosen].sum(axis=0)
        messages = self.messages[chosen].sum(axis=0)
        return [int(v) for v in active], [int(v) for v in messages]

    def levels_of(self, members: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, float]]:
        """Return (level, score) of the given (member_kind, member_id) that have an event.

        Computed on demand (a group page's members), not cached: it reads the rollup of the
        90 days for those members only.
        """
        if not members:
            return {}
        levels = member_levels(open_lake(self.lake), self.as_of)
        wanted = sorted({member_id for _, member_id in members})
        chosen = levels.filter(levels.member_id.isin(wanted)).to_pyarrow().to_pylist()
        asked = set(members)
        return {
            (row["member_kind"], row["member_id"]): (row["level"], float(row["score"]))
            for row in chosen
            if (row["member_kind"], row["member_id"]) in asked
        }

    def silence(self, leaders: list[SeatedLeader]) -> list[LeaderVoice]:
        """Return the leaders' voices (staff silence), kept while the lake stays the same."""
        key = tuple(leaders)
        if key not in self._silence:
            self._silence[key] = staff_silence(open_lake(self.lake), leaders, self.as_of)
        return self._silence[key]


_cache: dict[tuple[str, str], CommunityFigures | None] = {}
_versions: dict[tuple[str, str], tuple[int, float]] = {}
_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()


def community_figures(lake: TenantLake) -> CommunityFigures | None:
    """Return the tenant's figures (None when the lake holds no events yet).

    The manifest is read on every call (one small file); the figures are recomputed when its
    version moved and the figures are older than ``REFRESH_SECONDS``. One request computes,
    the others wait for it.
    """
    key = (str(lake.folder), lake.created)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        manifest = lake.manifest()
        known = _versions.get(key)
        if known is not None:
            version, computed_at = known
            fresh = time.monotonic() - computed_at < REFRESH_SECONDS
            if version == manifest.version or (fresh and _cache[key] is not None):
                return _cache[key]
        figures = _compute(lake, manifest.version)
        _cache[key] = figures
        _versions[key] = (manifest.version, time.monotonic())
        return figures


def forget_figures() -> None:
    """Drop every cached figure (tests that rewrite a lake under the same version use this)."""
    with _guard:
        _cache.clear()
        _versions.clear()


def _compute(lake: TenantLake, version: int) -> CommunityFigures | None:
    tables = open_lake(lake)
    as_of = latest_day(tables)
    if as_of is None:
        return None
    health = {row.group_id: row for row in group_health(tables, as_of)}
    first = as_of - timedelta(days=TREND_DAYS - 1)
    days = [first + timedelta(days=offset) for offset in range(TREND_DAYS)]
    daily = tables.group_daily
    window = daily.filter((daily.day >= first) & (daily.day <= as_of))
    named = window.join(tables.groups, "group_key")
    data = named.select("day", "group_id", "active_members", "messages").to_pyarrow()
    group_ids = sorted(set(data.column("group_id").to_pylist()) | set(health))
    rows = {group_id: index for index, group_id in enumerate(group_ids)}
    active = np.zeros((len(group_ids), TREND_DAYS), dtype=np.int32)
    messages = np.zeros((len(group_ids), TREND_DAYS), dtype=np.int32)
    if data.num_rows:
        group_index = np.array([rows[g] for g in data.column("group_id").to_pylist()])
        day_index = np.array([(day - first).days for day in data.column("day").to_pylist()])
        active[group_index, day_index] = data.column("active_members").to_numpy()
        messages[group_index, day_index] = data.column("messages").to_numpy()
    return CommunityFigures(lake, version, as_of, health, days, rows, active, messages)
