"""H5 member pages (phone, Chinese): grab a red packet, flash sale, 拼团, today's 接龙, 抽奖.

A member arrives through ``/h5/login?token=…&next=…`` (the link a group admin shares; in
production the WeCom / WeChat login makes the token), which keeps the member token in an
HttpOnly cookie. Pages render server-side; the buttons post with HTMX and get a fragment
back. Every post carries ``X-CSRF-Token``, an HMAC of the member token. Handlers are thin:
resolve the member, call one action or query, render.
"""

from __future__ import annotations

import hmac
import uuid
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from qunyun.activation.common import require_member
from qunyun.activation.draws import do_enter_draw, member_draw_view, member_open_draws
from qunyun.activation.errors import ActivationConflict
from qunyun.activation.flashsales import do_order_flash_sale, flash_sale_detail
from qunyun.activation.groupbuys import (
    do_join_team,
    do_open_team,
    group_buy_detail,
    team_deal,
)
from qunyun.activation.models import RelayStatus
from qunyun.activation.operations import relay_detail
from qunyun.activation.orderlists import do_add_line, order_list_detail
from qunyun.activation.redpackets import (
    do_grab_red_packet,
    do_send_relay_round,
    red_packet_detail,
    tenant_relay,
)
from qunyun.core.clock import format_local, utcnow
from qunyun.core.errors import Forbidden, NotFound, Unauthenticated
from qunyun.core.money import format_yuan
from qunyun.org.models import Tenant
from qunyun.web.auth import MEMBER_TOKEN_SECONDS, Member, TokenSigner
from qunyun.web.deps import MEMBER_COOKIE, NumericId, cookie_member, hot, work

router = APIRouter(prefix="/h5")
templates = Jinja2Templates(directory=FilePath(__file__).parent.parent / "templates")
templates.env.filters["yuan"] = format_yuan


def _member(request: Request) -> tuple[Member, str]:
    found = cookie_member(request)
    if found is None:
        raise Unauthenticated("请从群里的链接打开这个页面")
    return found


def _posting_member(request: Request) -> Member:
    """Return the member of a post; raise Forbidden unless it carries the page's CSRF token."""
    member, token = _member(request)
    signer: TokenSigner = request.app.state.signer
    sent = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(sent, signer.member_csrf(token)):
        raise Forbidden("页面已过期，请刷新后重试")
    return member


PageMember = Annotated[tuple[Member, str], Depends(_member)]
PostingMember = Annotated[Member, Depends(_posting_member)]


def _tenant(session: Session, member: Member) -> Tenant:
    tenant = session.get(Tenant, member.tenant_id)
    if tenant is None:
        raise NotFound("这个品牌已不存在")
    return tenant


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    found = cookie_member(request)
    csrf = ""
    if found is not None:
        signer: TokenSigner = request.app.state.signer
        csrf = signer.member_csrf(found[1])
    values = {"csrf": csrf, "member": found[0] if found else None, **context}
    return templates.TemplateResponse(request, f"h5/{name}", values, status_code=status)


def render_h5_error(request: Request, status: int, message: str) -> HTMLResponse:
    """Return the H5 error page (a member never sees the console's login)."""
    return _page(request, "error.html", {"status": status, "message": message}, status)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/h5/") and "//" not in target and "\\" not in target:
        return target
    return "/h5/"


# --- login -----------------------------------------------------------------------------------


@router.get("/login")
def login(
    request: Request,
    token: Annotated[str | None, Query(max_length=2000)] = None,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Keep the member token of a shared link in a cookie and go to the page it names."""
    signer: TokenSigner = request.app.state.signer
    if token is None or signer.member(token) is None:
        raise Unauthenticated("链接无效或已过期，请在群里重新打开")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        MEMBER_COOKIE,
        token,
        max_age=MEMBER_TOKEN_SECONDS,
        httponly=True,
        samesite="lax",
        path="/h5",
    )
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, found: PageMember) -> Response:
    """Say who is logged in and list the draws open to them (other pages come from links)."""
    member = found[0]
    with work(request) as session:
        tenant = _tenant(session, member)
        draws = member_open_draws(session, tenant, member.kind, member.member_id)
        zone = tenant.timezone
    listed = [(draw_id, title, format_local(closes, zone)) for draw_id, title, closes in draws]
    return _page(request, "home.html", {"who": member, "draws": listed})


# --- red packets -----------------------------------------------------------------------------


def _packet_context(
    session: Session, tenant: Tenant, member: Member, packet_id: int, request: Request
) -> dict[str, Any]:
    view = red_packet_detail(session, tenant, packet_id, hot(request))
    require_member(
        session, tenant, view.group_id, member.kind, member.member_id, f"红包 {packet_id}"
    )
    mine = next(
        (
            grab
            for grab in view.grabs
            if grab.member_kind is member.kind and grab.member_id == member.member_id
        ),
        None,
    )
    context: dict[str, Any] = {
        "packet": view,
        "mine": mine,
        "is_finished": len(view.grabs) == view.count,
    }
    if view.relay_id is not None:
        context["relay"] = _relay_context(session, tenant, member, view.relay_id, view.relay_round)
    return context


def _relay_context(
    session: Session, tenant: Tenant, member: Member, relay_id: int, round_number: int | None
) -> dict[str, Any]:
    """Return where a packet's relay stands for the member: who is asked to send the next round."""
    relay = tenant_relay(session, tenant, relay_id)
    asked_id = relay.next_sender_id if relay.status is RelayStatus.RUNNING else None
    return {
        "id": relay.id,
        "round": round_number,
        "rounds": relay.rounds,
        "next_round": relay.rounds_sent + 1,
        "asked_id": asked_id,
        "is_asked": asked_id == member.member_id and relay.next_sender_kind is member.kind,
    }


@router.get("/red-packets/{packet_id}", response_class=HTMLResponse)
def red_packet_page(packet_id: NumericId, request: Request, found: PageMember) -> Response:
    """Show a red packet: the grab button, or the member's amount, and the list of grabs."""
    member = found[0]
    with work(request) as session:
        context = _packet_context(session, _tenant(session, member), member, packet_id, request)
    return _page(request, "red_packet.html", context)


@router.post("/red-packets/{packet_id}/grab", response_class=HTMLResponse)
def grab(packet_id: NumericId, request: Request, member: PostingMember) -> Response:
    """Grab the next share; answer the packet's fragment with the amount (or why not)."""
    refusal = None
    try:
        with work(request) as session:
            tenant = _tenant(session, member)
            do_grab_red_packet(
                session, tenant, packet_id, member.kind, member.member_id, hot=hot(request)
            )
    except ActivationConflict as error:  # rolled back: the refusal is shown on the page
        refusal = error.message
    with work(request) as session:
        context = _packet_context(session, _tenant(session, member), member, packet_id, request)
    return _page(request, "red_packet_body.html", context | {"refusal": refusal, "fresh": True})


@router.post("/relays/{relay_id}/next", response_class=HTMLResponse)
def send_relay_round(relay_id: NumericId, request: Request, member: PostingMember) -> Response:
    """Send the relay's next round as the best luck it asked; go to the new round's page.

    A refusal (someone else asked, the round still grabbed, the relay over) shows on the page
    of the relay's latest round.
    """
    try:
        with work(request) as session:
            tenant = _tenant(session, member)
            packet_id = do_send_relay_round(
                session, tenant, relay_id, member.kind, member.member_id, hot=hot(request)
            ).id
    except ActivationConflict as error:  # rolled back: the refusal is shown on the page
        with work(request) as session:
            tenant = _tenant(session, member)
            latest = relay_detail(session, tenant, relay_id).rounds[-1].packet_id
            context = _packet_context(session, tenant, member, latest, request)
        return _page(request, "red_packet_body.html", context | {"relay_refusal": error.message})
    return Response(headers={"HX-Redirect": f"/h5/red-packets/{packet_id}"})


# --- flash sales -----------------------------------------------------------------------------


def _sale_context(
    session: Session, tenant: Tenant, member: Member, sale_id: int, request: Request
) -> dict[str, Any]:
    view = flash_sale_detail(session, tenant, sale_id, hot(request))
    require_member(session, tenant, view.group_id, member.kind, member.member_id, f"秒杀 {sale_id}")
    bought = sum(
        order.qty
        for order in view.orders
        if order.member_kind is member.kind and order.member_id == member.member_id
    )
    now = utcnow()
    return {
        "sale": view,
        "bought": bought,
        "left": view.stock - view.sold,
        "phase": "before" if now < view.starts_at else "after" if now >= view.ends_at else "open",
        "starts_ms": int(view.starts_at.timestamp() * 1000),
        "ends_ms": int(view.ends_at.timestamp() * 1000),
        "starts_local": format_local(view.starts_at, tenant.timezone),
        "ends_local": format_local(view.ends_at, tenant.timezone),
        "attempt": uuid.uuid4().hex,
    }


@router.get("/flash-sales/{sale_id}", response_class=HTMLResponse)
def flash_sale_page(sale_id: NumericId, request: Request, found: PageMember) -> Response:
    """Show a flash sale with its countdown and the buy button."""
    member = found[0]
    with work(request) as session:
        context = _sale_context(session, _tenant(session, member), member, sale_id, request)
    return _page(request, "flash_sale.html", context)


@router.post("/flash-sales/{sale_id}/orders", response_class=HTMLResponse)
def buy(
    sale_id: NumericId,
    request: Request,
    member: PostingMember,
    qty: Annotated[int, Form(ge=1, le=10_000)],
    attempt: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")],
) -> Response:
    """Buy as the member; answer the sale's fragment with the order (or why not)."""
    refusal, order_id = None, None
    try:
        with work(request) as session:
            tenant = _tenant(session, member)
            order = do_order_flash_sale(
                session, tenant, sale_id, member.kind, member.member_id, qty,
                attempt_id=attempt, hot=hot(request),
            )  # fmt: skip
            order_id = order.id
    except ActivationConflict as error:
        refusal = error.message
    with work(request) as session:
        context = _sale_context(session, _tenant(session, member), member, sale_id, request)
    return _page(
        request, "flash_sale_body.html", context | {"refusal": refusal, "order_id": order_id}
    )


# --- 拼团 ------------------------------------------------------------------------------------


def _deal_context(
    request: Request, session: Session, tenant: Tenant, member: Member, deal_id: int
) -> dict[str, Any]:
    view = group_buy_detail(session, tenant, deal_id, hot(request))
    require_member(session, tenant, view.group_id, member.kind, member.member_id, f"拼团 {deal_id}")
    me = (member.kind, member.member_id)
    return {
        "deal": view,
        "my_team": next((team for team in view.teams if me in team.members), None),
        "open_teams": [team for team in view.teams if team.status.value == "open"],
        "zone": tenant.timezone,
        "format_local": format_local,
    }


@router.get("/group-buys/{deal_id}", response_class=HTMLResponse)
def group_buy_page(deal_id: NumericId, request: Request, found: PageMember) -> Response:
    """Show a deal: open teams to join, or open a team."""
    member = found[0]
    with work(request) as session:
        context = _deal_context(request, session, _tenant(session, member), member, deal_id)
    return _page(request, "group_buy.html", context)


@router.post("/group-buys/{deal_id}/teams", response_class=HTMLResponse)
def open_team(deal_id: NumericId, request: Request, member: PostingMember) -> Response:
    """Open a team as its leader; answer the deal's fragment."""
    refusal = None
    try:
        with work(request) as session:
            do_open_team(
                session,
                _tenant(session, member),
                deal_id,
                member.kind,
                member.member_id,
                hot=hot(request),
            )
    except ActivationConflict as error:
        refusal = error.message
    with work(request) as session:
        context = _deal_context(request, session, _tenant(session, member), member, deal_id)
    return _page(request, "group_buy_body.html", context | {"refusal": refusal})


@router.post("/group-buy-teams/{team_id}/members", response_class=HTMLResponse)
def join_team(team_id: NumericId, request: Request, member: PostingMember) -> Response:
    """Join a team; answer the deal's fragment."""
    refusal = None
    with work(request) as session:
        deal_id = team_deal(session, _tenant(session, member), team_id)
    try:
        with work(request) as session:
            do_join_team(
                session,
                _tenant(session, member),
                team_id,
                member.kind,
                member.member_id,
                hot=hot(request),
            )
    except ActivationConflict as error:
        refusal = error.message
    with work(request) as session:
        context = _deal_context(request, session, _tenant(session, member), member, deal_id)
    return _page(request, "group_buy_body.html", context | {"refusal": refusal})


# --- 接龙 ------------------------------------------------------------------------------------


def _list_context(session: Session, tenant: Tenant, member: Member, list_id: int) -> dict[str, Any]:
    view = order_list_detail(session, tenant, list_id)
    require_member(session, tenant, view.group_id, member.kind, member.member_id, f"接龙 {list_id}")
    return {
        "order_list": view,
        "names": {item.item_code: item.name for item in view.items},
        "is_open": view.is_open,
        "closes_local": format_local(view.closes_at, tenant.timezone),
    }


@router.get("/order-lists/{list_id}", response_class=HTMLResponse)
def order_list_page(list_id: NumericId, request: Request, found: PageMember) -> Response:
    """Show today's 接龙 list and the form to add a line."""
    member = found[0]
    with work(request) as session:
        context = _list_context(session, _tenant(session, member), member, list_id)
    return _page(request, "order_list.html", context)


@router.post("/order-lists/{list_id}/lines", response_class=HTMLResponse)
def add_line(
    list_id: NumericId,
    request: Request,
    member: PostingMember,
    item_code: Annotated[str, Form(min_length=1, max_length=64)],
    qty: Annotated[int, Form(ge=1, le=10_000)],
) -> Response:
    """Add the member's line; answer the list's fragment."""
    refusal = None
    try:
        with work(request) as session:
            tenant = _tenant(session, member)
            do_add_line(session, tenant, list_id, member.kind, member.member_id, item_code, qty)
    except ActivationConflict as error:
        refusal = error.message
    with work(request) as session:
        context = _list_context(session, _tenant(session, member), member, list_id)
    return _page(request, "order_list_body.html", context | {"refusal": refusal})


# --- 抽奖 ------------------------------------------------------------------------------------


def _draw_context(session: Session, tenant: Tenant, member: Member, draw_id: int) -> dict[str, Any]:
    view = member_draw_view(session, tenant, draw_id, member.kind, member.member_id)
    return {
        "draw": view.verification,
        "ticket": view.ticket,
        "rank": view.rank,
        "closes_local": format_local(view.verification.entries_close_at, tenant.timezone),
        "opens_local": format_local(view.entries_open_at, tenant.timezone),
        "is_before": view.entries_open_at is not None and utcnow() < view.entries_open_at,
    }


@router.get("/draws/{draw_id}", response_class=HTMLResponse)
def draw_page(draw_id: NumericId, request: Request, found: PageMember) -> Response:
    """Show a draw: its committed hash, the entry button or the member's ticket, the results."""
    member = found[0]
    with work(request) as session:
        context = _draw_context(session, _tenant(session, member), member, draw_id)
    return _page(request, "draw.html", context)


@router.post("/draws/{draw_id}/entries", response_class=HTMLResponse)
def enter_draw(draw_id: NumericId, request: Request, member: PostingMember) -> Response:
    """Enter the draw as the member; answer the draw's fragment with the ticket (or why not)."""
    refusal = None
    try:
        with work(request) as session:
            tenant = _tenant(session, member)
            do_enter_draw(session, tenant, draw_id, member.kind, member.member_id)
    except ActivationConflict as error:
        refusal = error.message
    with work(request) as session:
        context = _draw_context(session, _tenant(session, member), member, draw_id)
    return _page(request, "draw_body.html", context | {"refusal": refusal})
