"""Referral trees (老带新): who brought whom, how deep the chains go, and the leaderboard.

Every ``referral`` event up to the as-of day is an edge from its inviter to its member (the
invitee). A member invited more than once counts for the first inviter only (earliest ``ts``,
then ``event_id``); an edge that would close a loop (the invitee is the inviter or one of the
inviter's own inviters) is left out. Per inviter: **direct** invites, **total** invites (every
member below them in the tree) and **depth** (the longest chain below them; 1 when only their
direct invitees). The leaderboard ranks inviters by total, then direct, then member.

Within a scope (the group ids an access guard allows) only the first referrals made in the
scope's groups are edges: an invitee's first referral elsewhere keeps them out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date

import ibis

from qunyun.analytics.lake import LakeTables
from qunyun.analytics.tiers import scoped_groups

REFERRALS_HEADER = ("rank", "member_kind", "member_id", "direct", "total", "depth")

Member = tuple[str, str]


@dataclass(frozen=True)
class Referrer:
    """An inviter's place in the referral trees."""

    member: Member
    direct: int
    total: int
    depth: int


def first_referrals(
    lake: LakeTables, as_of: date, within: Collection[str] | None = None
) -> list[tuple[Member, Member]]:
    """Return (inviter, invitee) of each invitee's first referral, in time order.

    ``within``: only the first referrals made in these groups; None: all.
    """
    events = lake.events
    referrals = events.filter(
        (events.kind == "referral")
        & (events.day <= as_of)
        & events.inviter_id.notnull()
        & events.inviter_kind.notnull()
    )
    number = ibis.row_number().over(
        group_by=[referrals.member_kind, referrals.member_id],
        order_by=[referrals.ts, referrals.event_id],
    )
    ranked = referrals.mutate(number=number)
    first = ranked.filter(ranked.number == 0)
    if within is not None:
        first = first.filter(first.group_id.isin(scoped_groups(lake, within).group_id))
    rows = (
        first.select("ts", "event_id", "member_kind", "member_id", "inviter_kind", "inviter_id")
        .order_by(["ts", "event_id"])
        .to_pyarrow()
        .to_pylist()
    )
    return [
        ((row["inviter_kind"], row["inviter_id"]), (row["member_kind"], row["member_id"]))
        for row in rows
    ]


def referral_trees(edges: list[tuple[Member, Member]]) -> list[Referrer]:
    """Return every inviter with direct, total and depth, in leaderboard order."""
    parent: dict[Member, Member] = {}
    children: dict[Member, list[Member]] = {}
    for inviter, invitee in edges:
        ancestor: Member | None = inviter
        while ancestor is not None and ancestor != invitee:
            ancestor = parent.get(ancestor)
        if ancestor == invitee:
            continue  # the edge would close a loop
        parent[invitee] = inviter
        children.setdefault(inviter, []).append(invitee)
    total: dict[Member, int] = {}
    depth: dict[Member, int] = {}
    roots = [member for member in children if member not in parent]
    for root in roots:
        stack: list[tuple[Member, bool]] = [(root, False)]
        while stack:
            member, expanded = stack.pop()
            below = children.get(member, [])
            if not expanded:
                stack.append((member, True))
                stack.extend((child, False) for child in below)
                continue
            total[member] = sum(1 + total[child] for child in below)
            depth[member] = max((1 + depth[child] for child in below), default=0)
    referrers = [
        Referrer(member, len(children[member]), total[member], depth[member]) for member in children
    ]
    return sorted(referrers, key=lambda r: (-r.total, -r.direct, r.member))


def referral_rows(referrers: list[Referrer]) -> Iterator[tuple[object, ...]]:
    """Yield ``REFERRALS_HEADER`` rows, ranks from 1."""
    for rank, referrer in enumerate(referrers, start=1):
        yield rank, *referrer.member, referrer.direct, referrer.total, referrer.depth
