"""Staff silence: managers and directors who sit in groups and never speak there.

The seeds' worst case is a boss who only lurks in the dealer and store groups. A leader is
every active staff member with the role ``director`` or ``manager`` who holds an open seat in
an open group; they are **silent** when they sent no message in the groups they sit in in the
90 local days ending on the as-of day. Messages elsewhere — in a group they have no seat in, or
outside groups — do not break the silence: a director who chats in his own team's group but
never speaks in the dealer groups he sits in is the case to find.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from qunyun.analytics.lake import LakeTables
from qunyun.channel.models import ContactKind
from qunyun.groups.models import Membership
from qunyun.groups.queries import open_seats_query
from qunyun.org.models import STAFF_ROLE_LABELS, Staff, StaffRole, Tenant

SILENCE_WINDOW_DAYS = 90
LEADER_ROLES = (StaffRole.DIRECTOR, StaffRole.MANAGER)

STAFF_SILENCE_HEADER = (
    "staff_id",
    "name",
    "role",
    "groups",
    "groups_spoken",
    "messages",
    "last_message",
    "silent",
)


@dataclass(frozen=True)
class SeatedLeader:
    """A director or manager and the open groups they sit in."""

    staff_id: str
    name: str
    role: StaffRole
    groups: frozenset[str]


@dataclass(frozen=True)
class LeaderVoice:
    """How much a seated leader spoke in the window."""

    leader: SeatedLeader
    groups_spoken: int
    messages: int
    last_message: date | None

    @property
    def is_silent(self) -> bool:
        """Return whether the leader sent no message at all in the window."""
        return self.messages == 0

    def row(self) -> tuple[object, ...]:
        """Return the ``STAFF_SILENCE_HEADER`` row (role in Chinese, silent as 是/否)."""
        return (
            self.leader.staff_id,
            self.leader.name,
            STAFF_ROLE_LABELS[self.leader.role],
            len(self.leader.groups),
            self.groups_spoken,
            self.messages,
            self.last_message.isoformat() if self.last_message else "",
            "是" if self.is_silent else "否",
        )


def seated_leaders(
    session: Session, tenant: Tenant, staff_ids: Collection[str] | None = None
) -> list[SeatedLeader]:
    """Return the active directors and managers with an open seat, and their groups.

    ``staff_ids`` limits the leaders (and the seats read) to these people.
    """
    seats = open_seats_query(tenant).where(Membership.member_kind == ContactKind.STAFF)
    if staff_ids is not None:
        if not staff_ids:
            return []
        # by person, unordered: the order by group would make SQLite walk every stay
        seats = seats.where(Membership.member_id.in_(sorted(staff_ids))).order_by(None)
    groups_of: dict[str, set[str]] = {}
    for group_id, _, member_id, _ in session.execute(seats):
        groups_of.setdefault(member_id, set()).add(group_id)
    if not groups_of:
        return []
    leaders = session.execute(
        select(Staff.staff_id, Staff.name, Staff.role)
        .where(
            Staff.tenant_id == tenant.id,
            Staff.role.in_(LEADER_ROLES),
            Staff.left_at.is_(None),
        )
        .order_by(Staff.staff_id)
    )
    return [
        SeatedLeader(staff_id, name, StaffRole(role), frozenset(groups_of[staff_id]))
        for staff_id, name, role in leaders
        if staff_id in groups_of
    ]


def staff_silence(lake: LakeTables, leaders: list[SeatedLeader], as_of: date) -> list[LeaderVoice]:
    """Return each leader's messages in their own groups in the window ending ``as_of``.

    Silent ones first, then by role (directors first) and staff id.
    """
    first = as_of - timedelta(days=SILENCE_WINDOW_DAYS - 1)
    events = lake.events
    spoken = events.filter(
        (events.kind == "message")
        & (events.member_kind == "staff")
        & (events.day >= first)
        & (events.day <= as_of)
        & events.member_id.isin([leader.staff_id for leader in leaders] or [""])
    )
    per_group = (
        spoken.group_by([spoken.member_id, spoken.group_id])
        .aggregate(messages=spoken.count(), last=spoken.day.max())
        .to_pyarrow()
        .to_pylist()
    )
    seats = {leader.staff_id: leader.groups for leader in leaders}
    voices: dict[str, tuple[set[str], int, date | None]] = {}
    for row in per_group:
        if row["group_id"] not in seats[row["member_id"]]:
            continue
        groups, messages, last = voices.get(row["member_id"], (set(), 0, None))
        groups.add(row["group_id"])
        latest = row["last"] if last is None or row["last"] > last else last
        voices[row["member_id"]] = (groups, messages + int(row["messages"]), latest)
    result = []
    for leader in leaders:
        groups, messages, last = voices.get(leader.staff_id, (set(), 0, None))
        result.append(LeaderVoice(leader, len(groups), messages, last))
    order = {role: index for index, role in enumerate(LEADER_ROLES)}
    return sorted(
        result,
        key=lambda voice: (not voice.is_silent, order[voice.leader.role], voice.leader.staff_id),
    )
