"""The headline figures of a tenant's communities, for ``qunyun report``."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from qunyun.analytics.funnel import FUNNEL_HEADER, cohort_rows, funnel_rows
from qunyun.analytics.group_health import STATUSES, group_health
from qunyun.analytics.lake import LakeTables
from qunyun.analytics.member_levels import level_counts
from qunyun.analytics.reach import RULE_OF_THUMB_DECAY, TIERS, decay, reach
from qunyun.analytics.referrals import REFERRALS_HEADER, first_referrals, referral_trees
from qunyun.analytics.staff_silence import SeatedLeader, staff_silence
from qunyun.analytics.vip import StoreValue, vip_candidates

TOP_GROUPS = 10
RECENT_DAYS = 7
TOP_VIPS = 10
TOP_REFERRERS = 10
COHORT_WEEKS = 14
"""The report shows the latest cohorts and their weeks, up to this many of each (90 days)."""


@dataclass
class CommunityReport:
    """What ``qunyun report`` shows: lake size, last week, levels, health, silent leaders."""

    as_of: date
    events: int
    first_day: str | None
    last_day: str | None
    members: int
    groups: int
    week_messages: int = 0
    week_senders: int = 0
    week_joins: int = 0
    week_leaves: int = 0
    levels: dict[str, int] = field(default_factory=dict)
    health: dict[str, int] = field(default_factory=dict)
    trends: dict[str, int] = field(default_factory=dict)
    top_groups: list[tuple[str, str, int, int]] = field(default_factory=list)
    leaders: int = 0
    silent_leaders: list[tuple[str, str, str, int]] = field(default_factory=list)
    vip: dict[str, Any] = field(default_factory=dict)
    funnel: list[dict[str, Any]] = field(default_factory=list)
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    reach: dict[str, Any] = field(default_factory=dict)
    referrals: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "as_of": self.as_of.isoformat(),
            "events": self.events,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "members": self.members,
            "groups": self.groups,
            "last_7_days": {
                "messages": self.week_messages,
                "senders": self.week_senders,
                "joins": self.week_joins,
                "leaves": self.week_leaves,
            },
            "member_levels": self.levels,
            "group_health": self.health,
            "group_trends": self.trends,
            "top_groups": [
                {"group_id": g, "status": s, "customer_messages": m, "customer_senders": n}
                for g, s, m, n in self.top_groups
            ],
            "leaders": self.leaders,
            "silent_leaders": [
                {"staff_id": i, "name": n, "role": r, "groups": g}
                for i, n, r, g in self.silent_leaders
            ],
            "vip_candidates": self.vip,
            "funnel": self.funnel,
            "cohorts": self.cohorts,
            "reach": self.reach,
            "referrals": self.referrals,
        }


def community_report(
    lake: LakeTables,
    as_of: date,
    open_groups: list[str],
    leaders: list[SeatedLeader],
    known: Mapping[str, str],
    stores: Sequence[StoreValue],
    vip_share: float,
) -> CommunityReport:
    """Return the headline figures up to ``as_of`` (the last ``RECENT_DAYS`` for the week).

    ``known`` maps the database's group ids to their matrix; ``stores`` are the active stores
    for the VIP candidates, of which a province takes ``vip_share``.
    """
    days = sorted(lake.manifest.events)
    report = CommunityReport(
        as_of=as_of,
        events=lake.manifest.event_count,
        first_day=days[0] if days else None,
        last_day=days[-1] if days else None,
        members=lake.manifest.member_count,
        groups=lake.manifest.group_count,
    )
    rollup = lake.member_daily
    week = rollup.filter((rollup.day > as_of - timedelta(days=RECENT_DAYS)) & (rollup.day <= as_of))
    figures = (
        week.aggregate(
            messages=week.messages.sum(),
            senders=week.member_key.nunique(where=week.messages > 0),
            joins=week.joins.sum(),
            leaves=week.leaves.sum(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    report.week_messages = int(figures["messages"] or 0)
    report.week_senders = int(figures["senders"] or 0)
    report.week_joins = int(figures["joins"] or 0)
    report.week_leaves = int(figures["leaves"] or 0)
    report.levels = level_counts(lake, as_of)
    health = group_health(lake, as_of, open_groups)
    report.health = {status: sum(g.status == status for g in health) for status in STATUSES}
    report.trends = {name: sum(g.trend == name for g in health) for name in ("up", "flat", "down")}
    busiest = sorted(health, key=lambda g: (-g.customer_messages, g.group_id))[:TOP_GROUPS]
    report.top_groups = [
        (g.group_id, g.status, g.customer_messages, g.customer_senders)
        for g in busiest
        if g.customer_messages
    ]
    voices = staff_silence(lake, leaders, as_of)
    report.leaders = len(voices)
    report.silent_leaders = [
        (v.leader.staff_id, v.leader.name, v.leader.role.value, len(v.leader.groups))
        for v in voices
        if v.is_silent
    ]
    report.vip = _vip(lake, stores, as_of, vip_share)
    report.funnel = [
        dict(zip(FUNNEL_HEADER, row, strict=True)) for row in funnel_rows(lake, as_of, known)
    ]
    report.cohorts = latest_cohorts(lake, as_of)
    report.reach = reach_summary(lake, as_of, known)
    report.referrals = referral_summary(lake, as_of)
    return report


def _vip(
    lake: LakeTables, stores: Sequence[StoreValue], as_of: date, share: float
) -> dict[str, Any]:
    rows = vip_candidates(lake, stores, as_of, share).to_pyarrow().to_pylist()
    per_province: dict[str, int] = {}
    for row in rows:
        per_province[row["province_code"]] = per_province.get(row["province_code"], 0) + 1
    top = sorted(rows, key=lambda row: (-row["value_fen"], -row["score"], row["store_id"]))
    return {
        "stores": len(rows),
        "per_province": per_province,
        "top": [
            {
                "province_code": row["province_code"],
                "store_id": row["store_id"],
                "value_fen": row["value_fen"],
                "order_fen": row["order_fen"],
                "score": round(row["score"], 2),
                "level": row["level"],
            }
            for row in top[:TOP_VIPS]
        ],
    }


def latest_cohorts(
    lake: LakeTables, as_of: date, within: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Return the latest ``COHORT_WEEKS`` cohorts with their first weeks' active members and shares.

    ``within``: the cohorts of these groups only (see ``funnel.cohorts``); None: every group.
    """
    by_cohort: dict[str, dict[str, Any]] = {}
    for week_start, members, _, active, _ in cohort_rows(lake, as_of, within):
        cohort = by_cohort.setdefault(
            str(week_start), {"cohort_week": week_start, "members": members, "active": []}
        )
        cohort["active"].append(active)
    latest = [by_cohort[key] for key in sorted(by_cohort)[-COHORT_WEEKS:]]
    for cohort in latest:
        cohort["active"] = cohort["active"][:COHORT_WEEKS]
        cohort["shares"] = [round(a / cohort["members"], 4) for a in cohort["active"]]
    return latest


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def reach_summary(
    lake: LakeTables,
    as_of: date,
    known: Mapping[str, str],
    within: Collection[str] | None = None,
) -> dict[str, Any]:
    """Return every content's share, delay and decay per tier, with their means.

    ``within``: tiers of these groups only (see ``reach.reach``); None: every group.
    """
    tiers = reach(lake, as_of, known, within)
    contents = []
    for start in range(0, len(tiers), len(TIERS)):
        by_tier = dict(zip(TIERS, tiers[start : start + len(TIERS)], strict=True))
        row: dict[str, Any] = {"content_id": tiers[start].content_id}
        for index, tier in enumerate(TIERS):
            row[f"{tier}_share"] = round(by_tier[tier].share, 4)
            if index:
                delay = by_tier[tier].median_delay_hours
                lost = decay(by_tier[TIERS[index - 1]], by_tier[tier])
                row[f"{tier}_delay_hours"] = None if delay is None else round(delay, 2)
                row[f"{tier}_decay"] = None if lost is None else round(lost, 4)
        contents.append(row)
    return {
        "contents": contents,
        "mean_share": {t: _mean([c[f"{t}_share"] for c in contents]) for t in TIERS},
        "mean_decay": {
            t: _mean([c[f"{t}_decay"] for c in contents if c[f"{t}_decay"] is not None])
            for t in TIERS[1:]
        },
        "rule_of_thumb_decay": RULE_OF_THUMB_DECAY,
    }


def referral_summary(
    lake: LakeTables, as_of: date, within: Collection[str] | None = None, top: int = TOP_REFERRERS
) -> dict[str, Any]:
    """Return the referral trees' counts and the ``top`` of the leaderboard.

    ``within``: referrals made in these groups only (see ``referrals``); None: all.
    """
    edges = first_referrals(lake, as_of, within)
    referrers = referral_trees(edges)
    invited = {invitee for _, invitee in edges}
    roots = [r for r in referrers if r.member not in invited]
    return {
        "invitees": len(invited),
        "inviters": len(referrers),
        "trees": len(roots),
        "max_depth": max((r.depth for r in roots), default=0),
        "top": [
            dict(zip(REFERRALS_HEADER, (rank, *r.member, r.direct, r.total, r.depth), strict=True))
            for rank, r in enumerate(referrers[:top], start=1)
        ],
    }
