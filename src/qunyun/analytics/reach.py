"""Reach down the tiers: how far a piece of content travels from dealer to store to consumer.

A group is reached by a content when it holds a ``content_share`` or ``content_view`` of it
up to the as-of day. The tiers are the dealer, store and consumer matrices (VIP groups are no
tier); a tier's groups are the groups of its matrix known to the database or seen in the lake.
Per content and tier:

- **share**: reached groups / groups of the tier;
- **median delay** (hours, tiers below the dealers): the median, over the tier's reached groups,
  of the group's first appearance minus the first appearance in the tier above;
- **decay**: 1 − share / share of the tier above (null when the tier above has none), against
  the seeds' rule of thumb of 30% lost at every hop (``RULE_OF_THUMB_DECAY``).

Within a scope (the group ids an access guard allows) the tiers hold the scope's groups only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from ibis.expr.types import Table

from qunyun.analytics.lake import LakeTables
from qunyun.analytics.tiers import group_matrices

TIERS = ("dealer", "store", "consumer")
RULE_OF_THUMB_DECAY = 0.3
REACH_HEADER = (
    "content_id",
    "tier",
    "groups",
    "reached",
    "share",
    "first_seen",
    "median_delay_hours",
    "decay",
)


@dataclass(frozen=True)
class TierReach:
    """How one content reached one tier."""

    content_id: str
    tier: str
    groups: int
    reached: int
    first_seen: datetime | None
    median_delay_hours: float | None

    @property
    def share(self) -> float:
        """Return the share of the tier's groups reached (0 for a tier without groups)."""
        return self.reached / self.groups if self.groups else 0.0


def first_appearances(
    lake: LakeTables,
    as_of: date,
    known: Mapping[str, str],
    within: Collection[str] | None = None,
) -> Table:
    """Return ``content_id, tier, group_id, first_seen`` for every reached group of a tier."""
    events = lake.events
    seen = events.filter(
        events.kind.isin(["content_share", "content_view"])
        & (events.day <= as_of)
        & events.content_id.notnull()
    )
    tiers = group_matrices(lake, known, within)
    tiers = tiers.filter(tiers.matrix.isin(TIERS)).select("group_key", "matrix")
    placed = seen.join(tiers, "group_key")
    return placed.group_by(
        [placed.content_id, placed.matrix.name("tier"), placed.group_id]
    ).aggregate(first_seen=placed.ts.min())


def tier_sizes(
    lake: LakeTables, known: Mapping[str, str], within: Collection[str] | None = None
) -> dict[str, int]:
    """Return the number of groups of each tier: known to the database or seen in the lake."""
    tiers = group_matrices(lake, known, within).to_pyarrow().to_pylist()
    database = known if within is None else {g: m for g, m in known.items() if g in within}
    matrices = {row["group_id"]: row["matrix"] for row in tiers} | dict(database)
    return {tier: sum(matrix == tier for matrix in matrices.values()) for tier in TIERS}


def reach(
    lake: LakeTables,
    as_of: date,
    known: Mapping[str, str],
    within: Collection[str] | None = None,
) -> list[TierReach]:
    """Return every content's reach of each tier, by content id then tier from the top.

    ``within``: the tiers hold only these groups; None: every group.
    """
    sizes = tier_sizes(lake, known, within)
    firsts: dict[str, dict[str, list[datetime]]] = {}
    for row in first_appearances(lake, as_of, known, within).to_pyarrow().to_pylist():
        firsts.setdefault(row["content_id"], {}).setdefault(row["tier"], []).append(
            row["first_seen"]
        )
    result = []
    for content_id in sorted(firsts):
        above: datetime | None = None
        for tier in TIERS:
            moments = sorted(firsts[content_id].get(tier, []))
            first = moments[0] if moments else None
            delay = None
            if above is not None and moments:
                delay = median([(moment - above).total_seconds() / 3600 for moment in moments])
            result.append(TierReach(content_id, tier, sizes[tier], len(moments), first, delay))
            above = first
    return result


def median(values: list[float]) -> float:
    """Return the median of a non-empty list (the mean of the middle two for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def decay(upper: TierReach, lower: TierReach) -> float | None:
    """Return 1 − lower share / upper share, or None when the upper tier was not reached."""
    if not upper.reached:
        return None
    return 1 - lower.share / upper.share


def reach_rows(reached: list[TierReach]) -> list[tuple[object, ...]]:
    """Return ``REACH_HEADER`` rows: shares and decay to 4 places, delay to 2, times in UTC."""
    rows: list[tuple[object, ...]] = []
    for index, tier in enumerate(reached):
        lost = decay(reached[index - 1], tier) if tier.tier != TIERS[0] else None
        rows.append(
            (
                tier.content_id,
                tier.tier,
                tier.groups,
                tier.reached,
                f"{tier.share:.4f}",
                tier.first_seen.isoformat() if tier.first_seen else "",
                "" if tier.median_delay_hours is None else f"{tier.median_delay_hours:.2f}",
                "" if lost is None else f"{lost:.4f}",
            )
        )
    return rows
