"""Activation API: member tokens, red packets, flash sales, 拼团 and 接龙.

Staff endpoints take a staff bearer token and keep to the caller's scope (a group outside it
answers 404); member endpoints take a member token from ``POST /members/token`` (what the H5
pages hold) and act as that member. Each handler parses, authorizes, calls one action or
query in its own unit of work, and renders; the two hot ones (grab, order) hand their
attempt to the process's hot lane (``activation.lane``: one connection, attempts committed in
groups, each answered after its group's commit) instead of an ORM session, and are async so
that no thread of the pool is taken per request. Refusals of a member's attempt answer 409 with
``{"error": code, "detail": message}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from qunyun.activation import flashsales, redpackets
from qunyun.activation.flashsales import do_create_flash_sale, flash_sale_detail
from qunyun.activation.groupbuys import (
    DealView,
    TeamView,
    do_create_group_buy,
    do_join_team,
    do_open_team,
    group_buy_detail,
    team_deal,
)
from qunyun.activation.lane import OneStatement, Together
from qunyun.activation.orderlists import (
    ListItem,
    do_add_line,
    do_open_order_list,
    order_list_detail,
)
from qunyun.activation.redpackets import do_create_red_packet, red_packet_detail
from qunyun.channel.models import ContactKind
from qunyun.org.access import (
    access_group,
    access_in_group,
    access_member,
    actor_tenant,
    require_activator,
    require_member_issuer,
    require_reader,
)
from qunyun.web.api.activation_schemas import (
    CreatedOut,
    FlashSaleIn,
    FlashSaleOut,
    GrabItem,
    GrabOut,
    GroupBuyIn,
    GroupBuyOut,
    LineCreatedOut,
    LineIn,
    LineOut,
    ListItemOut,
    MemberTokenIn,
    MemberTokenOut,
    OrderCreatedOut,
    OrderIn,
    OrderListIn,
    OrderListOut,
    RedPacketIn,
    RedPacketOut,
    SaleOrderOut,
    TeamMemberOut,
    TeamOut,
)
from qunyun.web.auth import Member, TokenSigner
from qunyun.web.deps import ApiActor, ApiMember, NumericId, hot, lane, member_tenant, work
from qunyun.web.errors import REFUSALS

router = APIRouter(tags=["activation"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Optional: a retried request with the same key returns its first order.",
    ),
]


# --- member tokens ---------------------------------------------------------------------------


@router.post("/members/token", response_model=MemberTokenOut)
def create_member_token(body: MemberTokenIn, actor: ApiActor, request: Request) -> MemberTokenOut:
    """Issue the identity token an H5 page holds for a member of a group in the caller's scope."""
    require_member_issuer(actor)
    kind = ContactKind(body.member_kind)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        access_member(session, actor, tenant, kind, body.member_id)
        tenant_id = tenant.id
    signer: TokenSigner = request.app.state.signer
    return MemberTokenOut(access_token=signer.issue_member(Member(tenant_id, kind, body.member_id)))


# --- red packets -----------------------------------------------------------------------------


@router.post("/red-packets", response_model=CreatedOut, status_code=201, responses=REFUSALS)
def create_red_packet(body: RedPacketIn, actor: ApiActor, request: Request) -> CreatedOut:
    """Send a red packet to a group of the caller's scope, paid from the group's month budget."""
    require_activator(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        access_group(session, actor, tenant, body.group_id)
        packet = do_create_red_packet(
            session, tenant, body.group_id, body.total_fen, body.count, sender_id=actor.name
        )
        return CreatedOut(id=packet.id)


async def _on_lane(
    request: Request,
    batched: Callable[..., OneStatement],
    together: Callable[..., Together],
    **arguments: Any,
) -> Any:
    """Run a member's hot attempt on the process's hot lane.

    On SQL it is ``batched``'s (committed with the attempts beside it, in one pipeline on
    PostgreSQL, answered after the commit); with Redis hot state it is ``together``'s, which
    writes no SQL (its script is the acknowledgement) and runs with the others of its kind
    waiting.
    """
    state = hot(request)
    if state is None:
        return await lane(request).run(batched(**arguments))
    return await lane(request).run(together(state, **arguments), batched=False)


@router.post("/red-packets/{packet_id}/grab", response_model=GrabOut, responses=REFUSALS)
async def grab_red_packet(packet_id: NumericId, member: ApiMember, request: Request) -> GrabOut:
    """Grab the next share of a packet (404 when the member is not in its group)."""
    grab: redpackets.Grab = await _on_lane(
        request,
        redpackets.grab_in_batch,
        redpackets.grab_together,
        tenant_id=member.tenant_id,
        packet_id=packet_id,
        member_kind=member.kind,
        member_id=member.member_id,
    )
    return GrabOut(amount_fen=grab.amount_fen, position=grab.position)


@router.get("/red-packets/{packet_id}", response_model=RedPacketOut)
def get_red_packet(packet_id: NumericId, actor: ApiActor, request: Request) -> RedPacketOut:
    """Return a packet with its grabs (404 outside the caller's scope)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        view = red_packet_detail(session, tenant, packet_id, hot(request))
        access_in_group(session, actor, tenant, view.group_id, f"没有红包 {packet_id}")
    return RedPacketOut(
        id=view.id,
        group_id=view.group_id,
        total_fen=view.total_fen,
        count=view.count,
        remaining_fen=view.remaining_fen,
        grabs=[
            GrabItem(
                member_kind=grab.member_kind.value,
                member_id=grab.member_id,
                amount_fen=grab.amount_fen,
                position=grab.position,
            )
            for grab in view.grabs
        ],
    )


# --- flash sales -----------------------------------------------------------------------------


@router.post("/flash-sales", response_model=CreatedOut, status_code=201)
def create_flash_sale(body: FlashSaleIn, actor: ApiActor, request: Request) -> CreatedOut:
    """Open a flash sale in a group of the caller's scope."""
    require_activator(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        access_group(session, actor, tenant, body.group_id)
        sale = do_create_flash_sale(
            session,
            tenant,
            body.group_id,
            body.sku,
            body.title,
            body.price_fen,
            body.stock,
            body.per_member_limit,
            body.starts_at,
            body.ends_at,
        )
        return CreatedOut(id=sale.id)


@router.post(
    "/flash-sales/{sale_id}/orders",
    response_model=OrderCreatedOut,
    status_code=201,
    responses=REFUSALS,
)
async def order_flash_sale(
    sale_id: NumericId,
    body: OrderIn,
    member: ApiMember,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> OrderCreatedOut:
    """Buy ``qty`` units as the member (never oversold, never past the per-member limit)."""
    order_id: int = await _on_lane(
        request,
        flashsales.order_in_batch,
        flashsales.order_together,
        tenant_id=member.tenant_id,
        sale_id=sale_id,
        member_kind=member.kind,
        member_id=member.member_id,
        qty=body.qty,
        attempt_id=idempotency_key,
    )
    return OrderCreatedOut(order_id=order_id)


@router.get("/flash-sales/{sale_id}", response_model=FlashSaleOut)
def get_flash_sale(sale_id: NumericId, actor: ApiActor, request: Request) -> FlashSaleOut:
    """Return a sale with its stock, units sold and orders (404 outside the caller's scope)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        view = flash_sale_detail(session, tenant, sale_id, hot(request))
        access_in_group(session, actor, tenant, view.group_id, f"没有秒杀 {sale_id}")
        orders = [
            SaleOrderOut(
                order_id=order.id,
                member_kind=order.member_kind.value,
                member_id=order.member_id,
                qty=order.qty,
                amount_fen=order.amount_fen,
                created_at=order.created_at,
            )
            for order in view.orders
        ]
    return FlashSaleOut(
        id=view.id,
        group_id=view.group_id,
        sku=view.sku,
        title=view.title,
        price_fen=view.price_fen,
        per_member_limit=view.per_member_limit,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        stock=view.stock,
        sold=view.sold,
        orders=orders,
    )


# --- group-buys (拼团) -----------------------------------------------------------------------


@router.post("/group-buys", response_model=CreatedOut, status_code=201)
def create_group_buy(body: GroupBuyIn, actor: ApiActor, request: Request) -> CreatedOut:
    """Open a 拼团 deal in a group of the caller's scope."""
    require_activator(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        access_group(session, actor, tenant, body.group_id)
        deal = do_create_group_buy(
            session,
            tenant,
            body.group_id,
            body.sku,
            body.title,
            body.price_fen,
            body.team_size,
            body.stock,
            body.team_minutes,
            body.starts_at,
            body.ends_at,
        )
        return CreatedOut(id=deal.id)


def team_out(team: TeamView, team_size: int) -> TeamOut:
    """Return a team as the API shows it."""
    return TeamOut(
        team_id=team.id,
        status=team.status.value,
        joined=team.joined,
        team_size=team_size,
        deadline=team.deadline,
        members=[
            TeamMemberOut(member_kind=kind.value, member_id=member_id)
            for kind, member_id in team.members
        ],
    )


def _team(view: DealView, team_id: int) -> TeamOut:
    return team_out(next(team for team in view.teams if team.id == team_id), view.team_size)


@router.get("/group-buys/{deal_id}", response_model=GroupBuyOut)
def get_group_buy(deal_id: NumericId, actor: ApiActor, request: Request) -> GroupBuyOut:
    """Return a deal with its stock and teams (404 outside the caller's scope)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        view = group_buy_detail(session, tenant, deal_id, hot(request))
        access_in_group(session, actor, tenant, view.group_id, f"没有拼团 {deal_id}")
    return GroupBuyOut(
        id=view.id,
        group_id=view.group_id,
        sku=view.sku,
        title=view.title,
        price_fen=view.price_fen,
        team_size=view.team_size,
        stock=view.stock,
        reserved=view.reserved,
        sold=view.sold,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        teams=[team_out(team, view.team_size) for team in view.teams],
    )


@router.post(
    "/group-buys/{deal_id}/teams", response_model=TeamOut, status_code=201, responses=REFUSALS
)
def open_team(deal_id: NumericId, member: ApiMember, request: Request) -> TeamOut:
    """Open a team of a deal as its leader (the first of its members)."""
    with work(request) as session:
        tenant = member_tenant(session, member)
        team = do_open_team(
            session, tenant, deal_id, member.kind, member.member_id, hot=hot(request)
        )
        return _team(group_buy_detail(session, tenant, deal_id), team.id)


@router.post("/group-buy-teams/{team_id}/members", response_model=TeamOut, responses=REFUSALS)
def join_team(team_id: NumericId, member: ApiMember, request: Request) -> TeamOut:
    """Join a team; the last seat completes it."""
    with work(request) as session:
        tenant = member_tenant(session, member)
        do_join_team(session, tenant, team_id, member.kind, member.member_id, hot=hot(request))
        return _team(
            group_buy_detail(session, tenant, team_deal(session, tenant, team_id)), team_id
        )


# --- 接龙 order lists ------------------------------------------------------------------------


@router.post("/order-lists", response_model=CreatedOut, status_code=201, responses=REFUSALS)
def open_order_list(body: OrderListIn, actor: ApiActor, request: Request) -> CreatedOut:
    """Open today's 接龙 list of a group of the caller's scope, run by a partner of the group."""
    require_activator(actor)
    items = [ListItem(i.item_code, i.name, i.price_fen, i.supplier_id) for i in body.items]
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        access_group(session, actor, tenant, body.group_id)
        order_list = do_open_order_list(
            session,
            tenant,
            body.group_id,
            ContactKind(body.partner_kind),
            body.partner_id,
            items,
            body.commission_bp,
        )
        return CreatedOut(id=order_list.id)


@router.get("/order-lists/{list_id}", response_model=OrderListOut)
def get_order_list(list_id: NumericId, actor: ApiActor, request: Request) -> OrderListOut:
    """Return a 接龙 list with its items and lines (404 outside the caller's scope)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        view = order_list_detail(session, tenant, list_id)
        access_in_group(session, actor, tenant, view.group_id, f"没有接龙 {list_id}")
    return OrderListOut(
        id=view.id,
        group_id=view.group_id,
        list_date=view.list_date,
        partner_kind=view.partner_kind.value,
        partner_id=view.partner_id,
        commission_bp=view.commission_bp,
        closes_at=view.closes_at,
        items=[
            ListItemOut(
                item_code=item.item_code,
                name=item.name,
                price_fen=item.price_fen,
                supplier_id=item.supplier_id,
            )
            for item in view.items
        ],
        lines=[
            LineOut(
                line_id=line.id,
                member_kind=line.member_kind.value,
                member_id=line.member_id,
                item_code=line.item_code,
                qty=line.qty,
                amount_fen=line.amount_fen,
                added_at=line.added_at,
                locked=line.is_locked,
            )
            for line in view.lines
        ],
    )


@router.post(
    "/order-lists/{list_id}/lines",
    response_model=LineCreatedOut,
    status_code=201,
    responses=REFUSALS,
)
def add_line(
    list_id: NumericId, body: LineIn, member: ApiMember, request: Request
) -> LineCreatedOut:
    """Add the member's line (item, quantity) to today's list, before its last cutoff."""
    with work(request) as session:
        tenant = member_tenant(session, member)
        line = do_add_line(
            session, tenant, list_id, member.kind, member.member_id, body.item_code, body.qty
        )
        return LineCreatedOut(line_id=line.id, amount_fen=line.amount_fen)
