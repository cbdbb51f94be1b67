"""Reads of the groups package."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind
from qunyun.groups.models import Group, Matrix, MemberRole, Membership
from qunyun.org.models import Tenant


def open_seats_query(
    tenant: Tenant, matrix: Matrix | None = None
) -> Select[str, ContactKind, str, MemberRole]:
    """Return the query of the open stays in the tenant's open groups (of one matrix)."""
    query = (
        select(Membership.group_id, Membership.member_kind, Membership.member_id, Membership.role)
        .join(
            Group,
            (Group.tenant_id == Membership.tenant_id) & (Group.group_id == Membership.group_id),
        )
        .where(
            Membership.tenant_id == tenant.id,
            Membership.left_at.is_(None),
            Group.archived_at.is_(None),
        )
        .order_by(Membership.group_id, Membership.member_kind, Membership.member_id)
    )
    return query if matrix is None else query.where(Group.matrix == matrix)


def open_seats(
    session: Session, tenant: Tenant, matrix: Matrix | None = None
) -> list[tuple[str, ContactKind, str, MemberRole]]:
    """Return (group, member kind, member id, role) of every open stay in open groups."""
    return [tuple(row) for row in session.execute(open_seats_query(tenant, matrix))]  # type: ignore[misc]


def is_current_member(
    session: Session, tenant: Tenant, group_id: str, member_kind: ContactKind, member_id: str
) -> bool:
    """Return whether the member has an open stay in the tenant's (open) group ``group_id``."""
    stay = session.scalar(
        select(Membership.id)
        .join(
            Group,
            (Group.tenant_id == Membership.tenant_id) & (Group.group_id == Membership.group_id),
        )
        .where(
            Membership.tenant_id == tenant.id,
            Membership.group_id == group_id,
            Membership.member_kind == member_kind,
            Membership.member_id == member_id,
            Membership.left_at.is_(None),
            Group.archived_at.is_(None),
        )
        .limit(1)
    )
    return stay is not None
