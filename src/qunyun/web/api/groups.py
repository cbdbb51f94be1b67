"""``/api/v1/groups`` and ``/api/v1/stores``: what the caller's scope holds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from qunyun.analytics.figures import CommunityFigures, community_figures
from qunyun.channel.models import ContactKind, Store
from qunyun.channel.queries import store_page
from qunyun.events.actions import tenant_lake
from qunyun.groups.governance import audit_groups
from qunyun.groups.models import Group
from qunyun.groups.queries import GroupRow, MemberRow, group_members, group_owner, group_page
from qunyun.org.access import (
    access_group,
    access_store,
    actor_tenant,
    groups_in_scope,
    require_reader,
    stores_in_scope,
)
from qunyun.org.regions import catalogue
from qunyun.web.api.schemas import (
    BreachOut,
    GroupDetail,
    GroupHistory,
    GroupItem,
    GroupPage,
    HealthOut,
    MemberOut,
    OwnerOut,
    StayOut,
    StoreItem,
    StorePage,
)
from qunyun.web.deps import ApiActor, work

router = APIRouter(tags=["groups"])

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500).")]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="`next_cursor` of the previous page: the page continues after this id.",
    ),
]
ObjectId = Annotated[str, Path(min_length=1, max_length=64)]


def _item(row: GroupRow, figures: CommunityFigures | None) -> GroupItem:
    return GroupItem(
        id=row.group_id,
        name=row.name,
        matrix=row.matrix.value,
        territory_rep_id=row.territory_rep_id,
        member_count=row.member_count,
        health=_health(figures, row.group_id),
    )


def _health(figures: CommunityFigures | None, group_id: str) -> HealthOut | None:
    if figures is None:
        return None
    health = figures.health_of(group_id)
    return HealthOut(
        status=health.status,
        trend=health.trend,
        customer_messages=health.customer_messages,
        customer_senders=health.customer_senders,
        active_days=health.active_days,
        staff_messages=health.staff_messages,
        last_customer_message=health.last_customer_message,
        as_of=figures.as_of,
    )


@router.get("/groups", response_model=GroupPage)
def list_groups(
    actor: ApiActor, request: Request, limit: Limit = 50, cursor: Cursor = None
) -> GroupPage:
    """List the open groups in the caller's scope, by id (keyset pagination)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        rows = group_page(session, groups_in_scope(session, actor, tenant), cursor, limit + 1)
    figures = community_figures(tenant_lake(tenant))
    more = len(rows) > limit
    rows = rows[:limit]
    return GroupPage(
        items=[_item(row, figures) for row in rows],
        next_cursor=rows[-1].group_id if more else None,
    )


@router.get("/groups/{group_id}", response_model=GroupDetail)
def get_group(actor: ApiActor, request: Request, group_id: ObjectId) -> GroupDetail:
    """Return a group with its owner, members, staff seats and breaches (404 outside the scope)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        group = access_group(session, actor, tenant, group_id)
        owner = group_owner(session, tenant, group)
        members = group_members(session, group)
        breaches = audit_groups(
            session, tenant, (Group.tenant_id == tenant.id) & (Group.group_id == group.group_id)
        )
    figures = community_figures(tenant_lake(tenant))
    out = [MemberOut(**_member_fields(member)) for member in members]
    return GroupDetail(
        id=group.group_id,
        name=group.name,
        matrix=group.matrix.value,
        territory_rep_id=group.territory_rep_id,
        member_count=len(out),
        health=_health(figures, group.group_id),
        owner=(
            OwnerOut(id=owner.owner_id, name=owner.name, is_company=owner.is_company)
            if owner is not None
            else None
        ),
        region=catalogue().full_name(group.region_code) if group.region_code else None,
        created_at=group.created_at,
        archived_at=group.archived_at,
        members=[member for member in out if member.kind != ContactKind.STAFF.value],
        staff_seats=[member for member in out if member.kind == ContactKind.STAFF.value],
        breaches=[BreachOut(group_id=b.group_id, rule=b.rule, detail=b.detail) for b in breaches],
    )


@router.get("/groups/{group_id}/history", response_model=GroupHistory)
def get_group_history(actor: ApiActor, request: Request, group_id: ObjectId) -> GroupHistory:
    """Return every stay the group has had, open and closed, by when it began.

    Who joined and left when, through plans, handovers and departures; 404 outside the scope.
    """
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        group = access_group(session, actor, tenant, group_id)
        stays = group_members(session, group, history=True)
        return GroupHistory(
            id=group.group_id,
            name=group.name,
            stays=[StayOut(**_member_fields(stay), left_at=stay.left_at) for stay in stays],
        )


def _member_fields(member: MemberRow) -> dict[str, Any]:
    """Return the fields of ``MemberOut`` of a member's stay."""
    return {
        "kind": member.member_kind.value,
        "id": member.member_id,
        "name": member.name,
        "role": member.role.value,
        "joined_at": member.joined_at,
    }


@router.get("/stores", response_model=StorePage)
def list_stores(
    actor: ApiActor,
    request: Request,
    limit: Limit = 50,
    cursor: Cursor = None,
    rep_id: Annotated[str | None, Query(max_length=64, description="Only this rep's.")] = None,
) -> StorePage:
    """List the stores in the caller's scope, by id (keyset pagination)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        stores = store_page(
            session, stores_in_scope(session, actor, tenant), cursor, limit + 1, rep_id
        )
        items = [_store(store) for store in stores[:limit]]
    more = len(stores) > limit
    return StorePage(items=items, next_cursor=items[-1].id if more else None)


@router.get("/stores/{store_id}", response_model=StoreItem)
def get_store(actor: ApiActor, request: Request, store_id: ObjectId) -> StoreItem:
    """Return a store (404 outside the caller's scope)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        return _store(access_store(session, actor, tenant, store_id))


def _store(store: Store) -> StoreItem:
    return StoreItem(
        id=store.store_id,
        name=store.name,
        store_type=store.store_type.value,
        region=catalogue().full_name(store.region_code),
        rep_id=store.rep_id,
        distributor_id=store.distributor_id,
        status=store.status.value,
        scale_tier=store.scale_tier.value if store.scale_tier else None,
        growth=store.growth.value,
        closeness=store.closeness,
    )
