"""The headline figures of a tenant's communities, for ``qunyun report``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from qunyun.analytics.group_health import STATUSES, group_health
from qunyun.analytics.lake import LakeTables
from qunyun.analytics.member_levels import level_counts
from qunyun.analytics.staff_silence import SeatedLeader, staff_silence

TOP_GROUPS = 10
RECENT_DAYS = 7


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
        }


def community_report(
    lake: LakeTables, as_of: date, open_groups: list[str], leaders: list[SeatedLeader]
) -> CommunityReport:
    """Return the headline figures up to ``as_of`` (the last ``RECENT_DAYS`` for the week)."""
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
    return report
