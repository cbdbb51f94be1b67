"""Member levels: an Orbit-style level per member from weighted activity with time decay.

A member's score sums, over their events of the last ``WINDOW_DAYS`` local days up to the
as-of day, the weight of the event's kind halved every ``HALF_LIFE_DAYS`` days of age (an
event on the as-of day counts fully, one 14 days older half), rounded to 9 decimal places.
Levels by score: core ≥ 20,
active ≥ 5, casual ≥ 0.25 (one message in the last 28 days), lurker below (members who only joined, viewed or were seen).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from qunyun.analytics.lake import LakeTables
from qunyun.events.schema import KIND_COUNTS

WINDOW_DAYS = 90
HALF_LIFE_DAYS = 14
ACTIVITY_WEIGHTS = {
    "message": 1.0,
    "red_packet_send": 3.0,
    "red_packet_grab": 1.0,
    "order": 5.0,
    "referral": 4.0,
    "content_share": 2.0,
    "content_view": 0.2,
}
"""Weight of one event of each kind; ``join`` and ``leave`` weigh nothing."""

SCORE_DIGITS = 9
"""Decimal places the score is rounded to (exports show 2)."""

LEVELS = (("core", 20.0), ("active", 5.0), ("casual", 0.25))
"""Lowest score of each level, highest first; below the last a member is a ``lurker``."""

MEMBER_LEVELS_HEADER = ("member_kind", "member_id", "level", "score", "messages", "last_active")


def latest_day(lake: LakeTables) -> date | None:
    """Return the latest local day that holds events, or None for an empty lake."""
    days = sorted(lake.manifest.events)
    return date.fromisoformat(days[-1]) if days else None


def member_levels(lake: LakeTables, as_of: date) -> Table:
    """Return one row per member with an event up to ``as_of``: level, score, window figures.

    ``messages`` counts messages in the window; ``last_active`` is the latest day with a
    weighted event (null when there is none). Ordered by score (highest first), then member.
    """
    rollup = lake.member_daily.filter(lake.member_daily.day <= as_of)
    weight = sum(
        (getattr(rollup, KIND_COUNTS[kind]) * value for kind, value in ACTIVITY_WEIGHTS.items()),
        ibis.literal(0.0),
    )
    age = ibis.literal(as_of).delta(rollup.day, unit="day")
    in_window = age < WINDOW_DAYS
    decayed = ibis.ifelse(in_window, weight * ibis.literal(0.5) ** (age / HALF_LIFE_DAYS), 0.0)
    per_member = rollup.group_by(rollup.member_key).aggregate(
        # to 9 places: the last bits of a power and of a sum differ between engines (and with
        # the order of the sum), and equal scores must tie on every engine
        score=decayed.sum().round(SCORE_DIGITS),
        messages=rollup.messages.sum(where=in_window).fill_null(0).cast("int64"),
        last_active=rollup.day.max(where=weight > 0),
    )
    named = per_member.join(lake.members, "member_key")
    level = ibis.cases(
        *((named.score >= threshold, name) for name, threshold in LEVELS), else_="lurker"
    )
    return named.select(
        member_kind=named.member_kind,
        member_id=named.member_id,
        level=level,
        score=named.score,
        messages=named.messages,
        last_active=named.last_active,
    ).order_by([ibis.desc("score"), "member_kind", "member_id"])


def member_level_rows(lake: LakeTables, as_of: date) -> Iterator[tuple[object, ...]]:
    """Yield ``MEMBER_LEVELS_HEADER`` rows: score to 2 decimals, dates as YYYY-MM-DD."""
    table: pa.Table = member_levels(lake, as_of).to_pyarrow()
    for batch in table.to_batches(max_chunksize=100_000):
        columns = batch.to_pydict()
        for kind, member, level, score, messages, last in zip(
            *(columns[name] for name in MEMBER_LEVELS_HEADER), strict=True
        ):
            yield kind, member, level, f"{score:.2f}", messages, last.isoformat() if last else ""


def level_counts(lake: LakeTables, as_of: date) -> dict[str, int]:
    """Return how many members are at each level (every level listed, highest first)."""
    levels = member_levels(lake, as_of)
    counted = levels.group_by("level").aggregate(members=levels.count()).to_pyarrow()
    found = dict(
        zip(*(counted.column(name).to_pylist() for name in ("level", "members")), strict=True)
    )
    return {name: int(found.get(name, 0)) for name in (*(name for name, _ in LEVELS), "lurker")}
