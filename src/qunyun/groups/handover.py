"""Hand a person's territory and reports over to another, correcting every touched group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind, Store
from qunyun.core.bulk import BulkWriter
from qunyun.core.clock import utcnow
from qunyun.core.errors import InvalidInput, NotFound
from qunyun.groups.figures import refresh_coverage, refresh_member_counts
from qunyun.groups.models import Group, Matrix, MemberRole, Membership
from qunyun.groups.plans import chain_seats
from qunyun.org.models import STAFF_ROLE_LABELS, Staff, StaffRole, Tenant


@dataclass(frozen=True)
class HandoverReport:
    """What a handover moved."""

    stores: int
    groups: int
    reports: int
    seats_closed: int
    seats_opened: int


def check_handover(
    session: Session, tenant: Tenant, from_id: str, to_id: str
) -> tuple[Staff, Staff]:
    """Return both people; raise when either is unknown, the same, gone, or of another role."""
    if from_id == to_id:
        raise InvalidInput("交出人与接手人是同一人")
    giver = session.get(Staff, (tenant.id, from_id))
    taker = session.get(Staff, (tenant.id, to_id))
    if giver is None:
        raise NotFound(f"没有员工 {from_id!r}")
    if taker is None:
        raise NotFound(f"没有员工 {to_id!r}")
    if taker.left_at is not None:
        raise InvalidInput(f"接手人 {to_id} 已离职")
    if giver.role is not taker.role:
        raise InvalidInput(
            f"{from_id} 是{STAFF_ROLE_LABELS[giver.role]}，{to_id} 是{STAFF_ROLE_LABELS[taker.role]}："
            "只能交接给同一角色的人"
        )
    return giver, taker


def do_handover(session: Session, tenant: Tenant, from_id: str, to_id: str) -> HandoverReport:
    """Move ``from_id``'s stores, groups and direct reports to ``to_id`` in one transaction.

    A rep's stores and store groups change hands; anyone's direct reports change manager (so a
    supervisor's handover cascades to the groups of all his reps). Then the staff seats of
    those store groups are made right again — the serving rep and the two levels above — by
    closing the stays that no longer fit and opening the missing ones; history is kept.
    Only the groups whose chain can have changed are read and touched: those of the taker
    and of the people up to two levels below him.
    """
    giver, _ = check_handover(session, tenant, from_id, to_id)
    stores = groups = 0
    if giver.role is StaffRole.REP:
        stores = _changed(
            session,
            update(Store)
            .where(Store.tenant_id == tenant.id, Store.rep_id == from_id)
            .values(rep_id=to_id, updated_at=utcnow()),
        )
        groups = _changed(
            session,
            update(Group)
            .where(Group.tenant_id == tenant.id, Group.territory_rep_id == from_id)
            .values(territory_rep_id=to_id),
        )
    reports = _changed(
        session,
        update(Staff)
        .where(Staff.tenant_id == tenant.id, Staff.manager_id == from_id)
        .values(manager_id=to_id, updated_at=utcnow()),
    )
    session.flush()
    closed, opened, reseated = _reseat(session, tenant, _served_below(session, tenant, to_id))
    refresh_member_counts(session, tenant, reseated)
    if stores:
        refresh_coverage(session, tenant, {from_id, to_id})
    return HandoverReport(stores, groups, reports, closed, opened)


def _changed(session: Session, statement: Update) -> int:
    result = session.execute(statement)
    return cast(CursorResult[Any], result).rowcount


def _served_below(session: Session, tenant: Tenant, person_id: str) -> set[str]:
    """Return the person and the people up to two levels below: whose groups seat him."""
    found = {person_id}
    level = {person_id}
    for _ in range(2):
        level = set(
            session.scalars(
                select(Staff.staff_id).where(
                    Staff.tenant_id == tenant.id, Staff.manager_id.in_(sorted(level))
                )
            )
        )
        found |= level
    return found


def _reseat(session: Session, tenant: Tenant, reps: set[str]) -> tuple[int, int, set[str]]:
    """Make the chain seats (rep and two levels above) of ``reps``' store groups match the org.

    Return the seats closed and opened, and the groups whose seats changed.

    Only these groups can have changed: a handover to X changes the chain of X's own groups
    and of those of the people up to two levels below X.
    """
    staff = {
        person.staff_id: person
        for person in session.scalars(select(Staff).where(Staff.tenant_id == tenant.id))
    }
    territory = dict(
        session.execute(
            select(Group.group_id, Group.territory_rep_id).where(
                Group.tenant_id == tenant.id,
                Group.matrix == Matrix.STORE,
                Group.archived_at.is_(None),
                Group.territory_rep_id.in_(sorted(reps)),
            )
        ).all()
    )
    current: dict[str, dict[tuple[ContactKind, str, MemberRole], int]] = {
        gid: {} for gid in territory
    }
    query = (
        select(
            Membership.id,
            Membership.group_id,
            Membership.member_kind,
            Membership.member_id,
            Membership.role,
        )
        .join(
            Group,
            (Group.tenant_id == Membership.tenant_id) & (Group.group_id == Membership.group_id),
        )
        .where(
            Group.territory_rep_id.in_(sorted(reps)),
            Membership.tenant_id == tenant.id,
            Membership.left_at.is_(None),
            Membership.member_kind == ContactKind.STAFF,
            Membership.role != MemberRole.ADMIN,
        )
    )
    for membership_id, group_id, kind, member_id, role in session.execute(query):
        if group_id in current:
            current[group_id][(kind, member_id, role)] = membership_id
    now = utcnow()
    writer = BulkWriter(session.connection(), Membership.__table__)  # type: ignore[arg-type]
    to_close: list[list[object]] = []
    to_open: list[list[object]] = []
    touched: set[str] = set()
    for group_id, rep in sorted(territory.items()):
        wanted = chain_seats(staff, rep) if rep else set()
        have = current[group_id]
        if wanted != have.keys():
            touched.add(group_id)
        to_close.extend([now, have[seat]] for seat in sorted(have.keys() - wanted))
        to_open.extend(
            [tenant.id, group_id, kind, member_id, role, now]
            for kind, member_id, role in sorted(wanted - have.keys())
        )
    writer.update(["left_at"], ["id"], to_close)
    writer.insert(
        ["tenant_id", "group_id", "member_kind", "member_id", "role", "joined_at"], to_open
    )
    return len(to_close), len(to_open), touched
