"""Writes of the groups package: company-owned groups and membership history.

The planner (next issue) decides who belongs where; these actions record it so that every
stay of every member remains auditable: leaving closes a row, rejoining opens a new one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.errors import Conflict, NotFound
from qunyun.groups.figures import refresh_coverage, refresh_member_counts, store_reps
from qunyun.groups.models import Group, Matrix, MemberRole, Membership
from qunyun.org.models import Tenant


def do_create_group(
    session: Session,
    tenant: Tenant,
    group_id: str,
    name: str,
    matrix: Matrix,
    *,
    territory_rep_id: str | None = None,
    region_code: str | None = None,
) -> Group:
    """Create a group owned by the tenant's company account; raise Conflict when the id is taken."""
    if session.get(Group, (tenant.id, group_id)) is not None:
        raise Conflict(f"社群 {group_id} 已存在")
    group = Group(
        tenant_id=tenant.id,
        group_id=group_id,
        name=name,
        matrix=matrix,
        territory_rep_id=territory_rep_id,
        region_code=region_code,
        owner_id=tenant.company_account_id,
        created_at=utcnow(),
    )
    session.add(group)
    session.flush()
    return group


def do_join(
    session: Session,
    tenant: Tenant,
    group_id: str,
    member_kind: ContactKind,
    member_id: str,
    role: MemberRole,
    when: datetime | None = None,
) -> Membership:
    """Open a stay of a member in a group.

    Raise NotFound for an unknown or archived group and Conflict when the member is already
    in it (the partial unique index on open stays enforces this under concurrency too).
    """
    group = session.get(Group, (tenant.id, group_id))
    if group is None or group.archived_at is not None:
        raise NotFound(f"没有社群 {group_id}")
    open_stay = session.scalar(_open_stay(tenant, group_id, member_kind, member_id))
    if open_stay is not None:
        raise Conflict(f"{member_kind.value} {member_id} 已在社群 {group_id} 中")
    membership = Membership(
        tenant_id=tenant.id,
        group_id=group_id,
        member_kind=member_kind,
        member_id=member_id,
        role=role,
        joined_at=when or utcnow(),
    )
    session.add(membership)
    session.flush()
    _refresh_figures(session, tenant, group_id, member_kind, member_id)
    return membership


def do_leave(
    session: Session,
    tenant: Tenant,
    group_id: str,
    member_kind: ContactKind,
    member_id: str,
    when: datetime | None = None,
) -> Membership:
    """Close the member's open stay in the group; raise NotFound when there is none."""
    stay = session.scalar(_open_stay(tenant, group_id, member_kind, member_id))
    if stay is None:
        raise NotFound(f"{member_kind.value} {member_id} 不在社群 {group_id} 中")
    closed = session.execute(
        update(Membership)
        .where(Membership.id == stay.id, Membership.left_at.is_(None))
        .values(left_at=when or utcnow())
        .returning(Membership.id)
    ).first()
    if closed is None:
        raise Conflict(f"{member_kind.value} {member_id} 已离开社群 {group_id}")
    session.refresh(stay)
    _refresh_figures(session, tenant, group_id, member_kind, member_id)
    return stay


def _refresh_figures(
    session: Session, tenant: Tenant, group_id: str, member_kind: ContactKind, member_id: str
) -> None:
    refresh_member_counts(session, tenant, [group_id])
    if member_kind is ContactKind.STORE:
        refresh_coverage(session, tenant, store_reps(session, tenant, [member_id]))


def _open_stay(
    tenant: Tenant, group_id: str, member_kind: ContactKind, member_id: str
) -> Select[Membership]:
    return select(Membership).where(
        Membership.tenant_id == tenant.id,
        Membership.group_id == group_id,
        Membership.member_kind == member_kind,
        Membership.member_id == member_id,
        Membership.left_at.is_(None),
    )
