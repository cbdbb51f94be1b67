"""Hand a person's territory and reports over to another, correcting every touched group."""

from __future__ import annotations

from collections import defaultdict
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
from qunyun.groups.plans import chain_seats, superior_seat
from qunyun.org.models import STAFF_ROLE_LABELS, Staff, StaffRole, Tenant

Seat = tuple[ContactKind, str, MemberRole]
CHUNK = 5_000
"""Groups whose seats one query reads (bound parameters have a limit)."""


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
    """Move ``from_id``'s stores, groups, direct reports and seats to ``to_id`` in one transaction.

    A rep's stores and store groups change hands; anyone's direct reports change manager (so a
    supervisor's handover cascades to the groups of all his reps). Then the staff seats of
    every touched group are made right again by closing the stays that no longer fit and
    opening the missing ones; history is kept (``_reseat``).
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
    closed, opened, reseated = _reseat(session, tenant, from_id, to_id)
    refresh_member_counts(session, tenant, reseated)
    if stores:
        refresh_coverage(session, tenant, {from_id, to_id})
    return HandoverReport(stores, groups, reports, closed, opened)


def _changed(session: Session, statement: Update) -> int:
    result = session.execute(statement)
    return cast(CursorResult[Any], result).rowcount


def _served_below(session: Session, tenant: Tenant, person_id: str) -> list[set[str]]:
    """Return the person, his direct reports and theirs: the levels whose groups seat him."""
    levels = [{person_id}]
    for _ in range(2):
        levels.append(
            set(
                session.scalars(
                    select(Staff.staff_id).where(
                        Staff.tenant_id == tenant.id, Staff.manager_id.in_(sorted(levels[-1]))
                    )
                )
            )
        )
    return levels


_OPEN_GROUP = (
    (Group.tenant_id == Membership.tenant_id)
    & (Group.group_id == Membership.group_id)
    & Group.archived_at.is_(None)
)


def _reseat(
    session: Session, tenant: Tenant, from_id: str, to_id: str
) -> tuple[int, int, set[str]]:
    """Make the staff seats of every group the handover touched right; keep the history.

    Return the seats closed and opened, and the groups whose seats changed. The touched
    groups, and what their seats become:

    - the store groups of the taker and of the people up to two levels below him (their chain
      can have changed), and every store group seating the giver: the serving rep and the two
      levels above, as the org now says (``chain_seats``); the group admin seat as below;
    - the planned VIP groups holding a store of the taker or of his direct reports (its rep's
      superior can have changed): every staff seat but the admin's is a superior of their
      stores' reps, in the role of his staff role (``superior_seat``), as the plan seats them;
      the group admin seat as below;
    - every other open group seating the giver (dealer and consumer groups: managers and
      directors; group admins anywhere): the taker takes the giver's seat in the same role,
      unless he already sits there.

    Only these groups are read, not the tenant's.
    """
    staff = {
        person.staff_id: person
        for person in session.scalars(select(Staff).where(Staff.tenant_id == tenant.id))
    }
    levels = _served_below(session, tenant, to_id)
    territories = set().union(*levels)
    touched_groups = select(
        Group.group_id, Group.matrix, Group.territory_rep_id, Group.plan_key
    ).where(Group.tenant_id == tenant.id, Group.archived_at.is_(None))
    matrix_of: dict[str, Matrix] = {}
    rep_of: dict[str, str | None] = {}
    for group_id, matrix, rep, _ in session.execute(
        touched_groups.where(
            Group.matrix == Matrix.STORE, Group.territory_rep_id.in_(sorted(territories))
        )
    ):
        matrix_of[group_id], rep_of[group_id] = matrix, rep
    for group_id, matrix, rep, _ in session.execute(
        touched_groups.join(
            Membership,
            (Membership.tenant_id == Group.tenant_id) & (Membership.group_id == Group.group_id),
        ).where(
            Membership.member_kind == ContactKind.STAFF,
            Membership.member_id == from_id,
            Membership.left_at.is_(None),
        )
    ):
        matrix_of[group_id], rep_of[group_id] = matrix, rep
    # the superior seated for a VIP store is its rep's manager: it changed for the stores of
    # the taker (a rep's handover) and of his direct reports (a supervisor's or a manager's)
    vip_store_stays = (
        select(Membership.group_id, Store.rep_id)
        .join(Group, _OPEN_GROUP)
        .join(
            Store,
            (Store.tenant_id == Membership.tenant_id) & (Store.store_id == Membership.member_id),
        )
        .where(
            Membership.tenant_id == tenant.id,
            Membership.member_kind == ContactKind.STORE,
            Membership.role == MemberRole.CUSTOMER,
            Membership.left_at.is_(None),
            Group.matrix == Matrix.VIP,
            Group.plan_key.is_not(None),
        )
    )
    affected = sorted(
        set(
            session.scalars(
                vip_store_stays.with_only_columns(Membership.group_id).where(
                    Store.rep_id.in_(sorted(levels[0] | levels[1]))
                )
            )
        )
    )
    vip_stores = [
        row
        for start in range(0, len(affected), CHUNK)
        for row in session.execute(
            vip_store_stays.where(Membership.group_id.in_(affected[start : start + CHUNK]))
        )
    ]
    superiors: dict[str, set[Seat]] = defaultdict(set)
    recomputed = set()
    for group_id, rep in vip_stores:
        matrix_of[group_id], rep_of[group_id] = Matrix.VIP, None
        recomputed.add(group_id)
        if superior := superior_seat(staff, rep):
            superiors[group_id].add(superior)
    current: dict[str, dict[Seat, int]] = {gid: {} for gid in matrix_of}
    for start in range(0, len(current), CHUNK):
        chunk = sorted(current)[start : start + CHUNK]
        for membership_id, group_id, kind, member_id, role in session.execute(
            select(
                Membership.id,
                Membership.group_id,
                Membership.member_kind,
                Membership.member_id,
                Membership.role,
            ).where(
                Membership.tenant_id == tenant.id,
                Membership.group_id.in_(chunk),
                Membership.left_at.is_(None),
                Membership.member_kind == ContactKind.STAFF,
            )
        ):
            current[group_id][(kind, member_id, role)] = membership_id
    now = utcnow()
    to_close: list[list[object]] = []
    to_open: list[list[object]] = []
    touched: set[str] = set()
    for group_id, have in sorted(current.items()):
        if matrix_of[group_id] is Matrix.STORE:
            rep = rep_of[group_id]
            derived = chain_seats(staff, rep) if rep else set()
            is_derived = _not_admin
        elif group_id in recomputed:
            derived = superiors[group_id]
            is_derived = _not_admin
        else:
            derived, is_derived = set(), _never
        wanted = _with_taker(derived, [s for s in have if not is_derived(s)], from_id, to_id)
        if wanted != have.keys():
            touched.add(group_id)
        to_close.extend([now, have[seat]] for seat in sorted(have.keys() - wanted))
        to_open.extend(
            [tenant.id, group_id, kind, member_id, role, now]
            for kind, member_id, role in sorted(wanted - have.keys())
        )
    writer = BulkWriter(session.connection(), Membership.__table__)  # type: ignore[arg-type]
    writer.update(["left_at"], ["id"], to_close)
    writer.insert(
        ["tenant_id", "group_id", "member_kind", "member_id", "role", "joined_at"], to_open
    )
    return len(to_close), len(to_open), touched


def _not_admin(seat: Seat) -> bool:
    return seat[2] is not MemberRole.ADMIN


def _never(seat: Seat) -> bool:
    return False


def _with_taker(derived: set[Seat], kept: list[Seat], from_id: str, to_id: str) -> set[Seat]:
    """Return the seats a group wants: the derived ones, then the kept ones, giver → taker.

    A person holds one open seat in a group (``uq_memberships_open``): a derived seat wins
    over a kept one, and the taker takes the giver's seat only where he does not sit yet.
    """
    wanted = set(derived)
    sitting = {(kind, member_id) for kind, member_id, _ in derived}
    handed: list[Seat] = []
    for kind, member_id, role in sorted(kept):
        if kind is ContactKind.STAFF and member_id == from_id:
            handed.append((kind, to_id, role))
        elif (kind, member_id) not in sitting:
            wanted.add((kind, member_id, role))
            sitting.add((kind, member_id))
    for kind, member_id, role in handed:
        if (kind, member_id) not in sitting:
            wanted.add((kind, member_id, role))
            sitting.add((kind, member_id))
    return wanted
