"""Reads of the groups package."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind
from qunyun.core.errors import NotFound
from qunyun.groups.models import Group, Matrix, MemberRole, Membership, PlanChange, PlanRevision
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


@dataclass(frozen=True)
class GroupRow:
    """A group as lists show it."""

    group_id: str
    name: str
    matrix: Matrix
    territory_rep_id: str | None
    region_code: str | None
    member_count: int


def group_page(
    session: Session, within: ColumnElement[bool], after: str | None, limit: int
) -> list[GroupRow]:
    """Return up to ``limit`` open groups that match ``within``, by id, after the id ``after``.

    Keyset pagination over the groups' key and the scope's indexes, with the member counts
    the writes keep on the group: the cost does not grow with how deep the page is.
    """
    query = _rows_query().where(within, Group.archived_at.is_(None)).order_by(Group.group_id)
    if after is not None:
        query = query.where(Group.group_id > after)
    return [GroupRow(*row) for row in session.execute(query.limit(limit))]


def groups_in(session: Session, within: ColumnElement[bool]) -> list[GroupRow]:
    """Return every open group that matches ``within`` with its member count, by id."""
    query = _rows_query().where(within, Group.archived_at.is_(None)).order_by(Group.group_id)
    return [GroupRow(*row) for row in session.execute(query)]


def _rows_query() -> Select[str, str, Matrix, str | None, str | None, int]:
    return select(
        Group.group_id,
        Group.name,
        Group.matrix,
        Group.territory_rep_id,
        Group.region_code,
        Group.member_count,
    )


def member_counts(session: Session, tenant_id: int, group_ids: list[str]) -> dict[str, int]:
    """Return the number of open stays per group."""
    query = (
        select(Membership.group_id, func.count())
        .where(
            Membership.tenant_id == tenant_id,
            Membership.group_id.in_(group_ids),
            Membership.left_at.is_(None),
        )
        .group_by(Membership.group_id)
    )
    return dict(session.execute(query).all())


@dataclass(frozen=True)
class MemberRow:
    """One open stay in a group, with the member's name."""

    member_kind: ContactKind
    member_id: str
    name: str
    role: MemberRole
    joined_at: datetime
    left_at: datetime | None = None


def group_members(session: Session, group: Group, *, history: bool = False) -> list[MemberRow]:
    """Return the open stays of a group with names, by kind, role and id.

    With ``history``, every stay the group ever had, open and closed (its auditable history:
    a plan, a handover or a departure closes a stay, never deletes it), by when it began.
    """
    from qunyun.channel.models import Consumer, Distributor, Store
    from qunyun.org.models import Staff

    query = select(
        Membership.member_kind,
        Membership.member_id,
        Membership.role,
        Membership.joined_at,
        Membership.left_at,
    ).where(Membership.tenant_id == group.tenant_id, Membership.group_id == group.group_id)
    if history:
        query = query.order_by(
            Membership.joined_at, Membership.member_kind, Membership.member_id, Membership.id
        )
    else:
        query = query.where(Membership.left_at.is_(None)).order_by(
            Membership.member_kind, Membership.role, Membership.member_id
        )
    stays = session.execute(query).all()
    tables: dict[ContactKind, tuple[Any, Any]] = {
        ContactKind.STORE: (Store, Store.store_id),
        ContactKind.DISTRIBUTOR: (Distributor, Distributor.distributor_id),
        ContactKind.CONSUMER: (Consumer, Consumer.consumer_id),
        ContactKind.STAFF: (Staff, Staff.staff_id),
    }
    names: dict[tuple[ContactKind, str], str] = {}
    for kind, (model, key) in tables.items():
        ids = [member_id for member_kind, member_id, *_ in stays if member_kind is kind]
        if ids:
            rows = session.execute(
                select(key, model.name).where(model.tenant_id == group.tenant_id, key.in_(ids))
            )
            names.update(((kind, member_id), name) for member_id, name in rows)
    return [
        MemberRow(kind, member_id, names.get((kind, member_id), member_id), role, joined, left)
        for kind, member_id, role, joined, left in stays
    ]


@dataclass(frozen=True)
class GroupOwner:
    """Who owns a group on the chat platform (群主)."""

    owner_id: str
    name: str | None
    """The company's name for its company account, a staff member's name; None when the
    account is neither (unknown to Qunyun)."""
    is_company: bool


def group_owner(session: Session, tenant: Tenant, group: Group) -> GroupOwner | None:
    """Return the owner of ``group``; None when none is recorded.

    A staff member is named as one (the audit reports him, ``person_owner``) before the
    company account is, as the audit decides.
    """
    from qunyun.org.models import Staff

    owner_id = group.owner_id
    if owner_id is None:
        return None
    person = session.get(Staff, (tenant.id, owner_id))
    if person is not None:
        return GroupOwner(owner_id, person.name, is_company=False)
    if owner_id == tenant.company_account_id:
        return GroupOwner(owner_id, tenant.name, is_company=True)
    return GroupOwner(owner_id, None, is_company=False)


def groups_by_matrix(session: Session, within: ColumnElement[bool]) -> dict[Matrix, int]:
    """Return how many open groups matching ``within`` each matrix has."""
    query = (
        select(Group.matrix, func.count())
        .where(within, Group.archived_at.is_(None))
        .group_by(Group.matrix)
    )
    counts = dict(session.execute(query).all())
    return {matrix: counts.get(matrix, 0) for matrix in Matrix}


def plan_revisions(
    session: Session, tenant: Tenant, before_id: int | None, limit: int
) -> list[PlanRevision]:
    """Return up to ``limit`` of the tenant's plan revisions, newest first.

    Only those older than ``before_id`` when given; pending, applied (when, by whom) and
    superseded ones alike.
    """
    query = select(PlanRevision).where(PlanRevision.tenant_id == tenant.id)
    if before_id is not None:
        query = query.where(PlanRevision.id < before_id)
    return list(session.scalars(query.order_by(PlanRevision.id.desc()).limit(limit)))


def plan_revision(session: Session, tenant: Tenant, revision_id: int) -> PlanRevision:
    """Return the tenant's revision ``revision_id``; raise NotFound for any other."""
    revision = session.get(PlanRevision, revision_id)
    if revision is None or revision.tenant_id != tenant.id:
        raise NotFound(f"没有计划 #{revision_id}：qunyun plan history 列出全部计划")
    return revision


def plan_changes(
    session: Session, revision_id: int, after_id: int | None, limit: int
) -> list[PlanChange]:
    """Return up to ``limit`` changes of a revision, by id, after the id ``after_id``."""
    query = select(PlanChange).where(PlanChange.revision_id == revision_id)
    if after_id is not None:
        query = query.where(PlanChange.id > after_id)
    return list(session.scalars(query.order_by(PlanChange.id).limit(limit)))


def groups_of_member(tenant: Tenant, member_kind: ContactKind, member_id: str) -> Select[str]:
    """Return the query of the ids of the tenant's open groups where the member has an open stay."""
    return (
        select(Membership.group_id)
        .join(
            Group,
            (Group.tenant_id == Membership.tenant_id) & (Group.group_id == Membership.group_id),
        )
        .where(
            Membership.tenant_id == tenant.id,
            Membership.member_kind == member_kind,
            Membership.member_id == member_id,
            Membership.left_at.is_(None),
            Group.archived_at.is_(None),
        )
    )


def is_current_member(
    session: Session, tenant: Tenant, group_id: str, member_kind: ContactKind, member_id: str
) -> bool:
    """Return whether the member has an open stay in the tenant's (open) group ``group_id``."""
    query = groups_of_member(tenant, member_kind, member_id)
    stay = session.scalar(query.where(Membership.group_id == group_id).limit(1))
    return stay is not None


def groups_per_region(
    session: Session, within: ColumnElement[bool]
) -> list[tuple[str | None, int]]:
    """Return how many open groups matching ``within`` each region (province) has, by region."""
    query = (
        select(Group.region_code, func.count())
        .where(within, Group.archived_at.is_(None))
        .group_by(Group.region_code)
        .order_by(Group.region_code)
    )
    return [(region, count) for region, count in session.execute(query)]
