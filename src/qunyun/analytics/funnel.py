"""AARRR funnel per matrix, and weekly cohort retention.

Members are customers (every member kind but staff). Up to the as-of day, per matrix:

- **acquired**: joined a group of the matrix (a ``join`` event); the join day is the first;
- **activated**: sent a ``message`` or a ``red_packet_grab`` in a group of the matrix within 7
  days of joining (join day to join day + 6);
- **retained**: did so in the fourth 7-day week counted from the join day (join day + 21 to
  + 27; days 0–6 are the first week, the activation window);
- **revenue**: placed an ``order`` (in any group or none) on or after the join day;
- **referral**: invited someone on or after the join day: is the inviter of a ``referral``
  event, or of a ``join`` (any group, any scene) that names an inviter.

Cohort retention: a member's cohort is the week (Monday to Sunday, local days) of their first
``join`` in any group; week *k* counts the cohort's members who sent a message or grabbed a red
packet in any group in the *k*-th week after the cohort's (week 0 is the join week), up to the
as-of day's week.

Within a scope (the group ids an access guard allows) the funnel counts the joins of the
scope's groups and activity there (revenue and referral stay the member's own, in any group),
and a cohort is the week of a member's first join into the scope's groups, active weeks
counting activity in those groups.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import date, timedelta

import ibis
from ibis.expr.types import Table

from qunyun.analytics.lake import LakeTables
from qunyun.analytics.tiers import MATRICES, group_matrices, scoped_groups

FUNNEL_HEADER = ("matrix", "acquired", "activated", "retained", "revenue", "referral")
COHORT_HEADER = ("cohort_week", "members", "week", "active", "share")
ACTIVATION_DAYS = 7
RETENTION_FIRST_DAY = 21
RETENTION_LAST_DAY = 27
INVITING_KINDS = ("referral", "join")
"""Events whose inviter invited someone: a referral, or a join with an inviter (e.g. ``invite``)."""


def _customer_rollup(lake: LakeTables, as_of: date) -> Table:
    rollup = lake.member_daily
    return rollup.filter((rollup.day <= as_of) & ~rollup.is_staff)


def funnel(
    lake: LakeTables,
    as_of: date,
    known: Mapping[str, str],
    within: Collection[str] | None = None,
) -> Table:
    """Return one row per matrix with joiners: ``FUNNEL_HEADER`` counts of members.

    ``within``: only the joins into (and activity in) these groups; None: every group.
    """
    rollup = _customer_rollup(lake, as_of)
    in_groups = rollup.join(group_matrices(lake, known, within), "group_key")
    joined = (
        in_groups.filter(in_groups.joins > 0)
        .group_by(["matrix", "member_key"])
        .aggregate(joined=in_groups.day.min())
    )
    lively = in_groups.filter((in_groups.messages > 0) | (in_groups.red_packet_grabs > 0))
    lively = lively.select("matrix", "member_key", active_day=lively.day).distinct()
    paired = joined.join(
        lively,
        (joined.matrix == lively.matrix) & (joined.member_key == lively.member_key),
    )
    age = paired.active_day.delta(paired.joined, unit="day")
    activity = paired.group_by([paired.matrix, paired.member_key]).aggregate(
        activated=((age >= 0) & (age < ACTIVATION_DAYS)).any(),
        retained=((age >= RETENTION_FIRST_DAY) & (age <= RETENTION_LAST_DAY)).any(),
    )
    buyers = rollup.filter(rollup.orders > 0)
    buyers = buyers.group_by(buyer_key=buyers.member_key).aggregate(last_order=buyers.day.max())
    events = lake.events
    invites = events.filter(
        events.kind.isin(INVITING_KINDS) & (events.day <= as_of) & events.inviter_key.notnull()
    )
    inviters = invites.group_by(inviter=invites.inviter_key).aggregate(
        last_invite=invites.day.max()
    )
    whole = (
        joined.left_join(
            activity,
            (joined.matrix == activity.matrix) & (joined.member_key == activity.member_key),
        )
        .left_join(buyers, joined.member_key == buyers.buyer_key)
        .left_join(inviters, joined.member_key == inviters.inviter)
    )
    return whole.group_by(matrix=whole.matrix).aggregate(
        acquired=whole.count(),
        activated=whole.activated.fill_null(False).sum().cast("int64"),
        retained=whole.retained.fill_null(False).sum().cast("int64"),
        revenue=(whole.last_order >= whole.joined).fill_null(False).sum().cast("int64"),
        referral=(whole.last_invite >= whole.joined).fill_null(False).sum().cast("int64"),
    )


def funnel_rows(
    lake: LakeTables,
    as_of: date,
    known: Mapping[str, str],
    within: Collection[str] | None = None,
) -> list[tuple[object, ...]]:
    """Return ``FUNNEL_HEADER`` rows for every matrix (zeros where nobody joined)."""
    table = funnel(lake, as_of, known, within).to_pyarrow().to_pylist()
    found = {row["matrix"]: row for row in table}
    return [
        (matrix, *(int(found.get(matrix, {}).get(name) or 0) for name in FUNNEL_HEADER[1:]))
        for matrix in MATRICES
    ]


def cohorts(lake: LakeTables, as_of: date, within: Collection[str] | None = None) -> Table:
    """Return per cohort week its ``members`` and ``weeks``, one item per member active in a week.

    ``weeks`` lists the week number (0 for the join week) once per member and week with
    activity; null when none. (The order of the list depends on the engine.)
    ``within``: only joins into and activity in these groups; None: every group.
    """
    rollup = _customer_rollup(lake, as_of)
    in_groups = rollup.filter(rollup.group_key.notnull())
    if within is not None:
        in_groups = in_groups.filter(
            in_groups.group_key.isin(scoped_groups(lake, within).group_key)
        )
    first = (
        in_groups.filter(in_groups.joins > 0)
        .group_by("member_key")
        .aggregate(first_join=in_groups.day.min())
    )
    first = first.select("member_key", cohort_week=first.first_join.truncate("W"))
    lively = in_groups.filter((in_groups.messages > 0) | (in_groups.red_packet_grabs > 0))
    lively = lively.select("member_key", active_week=lively.day.truncate("W")).distinct()
    paired = first.left_join(lively, first.member_key == lively.member_key)
    week = (paired.active_week.delta(paired.cohort_week, unit="day") / 7).cast("int64")
    weeks = week.collect(where=week >= 0)
    return paired.group_by([paired.cohort_week]).aggregate(
        members=paired.member_key.nunique(),
        # null, not an empty list, for a cohort never active again (Spark collects [])
        weeks=ibis.ifelse(weeks.length() > 0, weeks, ibis.null(weeks.type())),
    )


def cohort_rows(
    lake: LakeTables, as_of: date, within: Collection[str] | None = None
) -> Iterator[tuple[object, ...]]:
    """Yield ``COHORT_HEADER`` rows: each cohort, each week up to the as-of week; share 4 places."""
    as_of_week = as_of - timedelta(days=as_of.weekday())
    table = cohorts(lake, as_of, within).order_by("cohort_week").to_pyarrow().to_pylist()
    for row in table:
        start: date = row["cohort_week"]
        members = int(row["members"])
        counts: dict[int, int] = {}
        for week in row["weeks"] or []:
            counts[week] = counts.get(week, 0) + 1
        for week in range((as_of_week - start).days // 7 + 1):
            active = counts.get(week, 0)
            yield start.isoformat(), members, week, active, f"{active / members:.4f}"
