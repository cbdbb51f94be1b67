"""Console pages of activation for operators: red-packet rules and budget, sales and deals.

Every page belongs to a group that ``org.access`` lets the actor see (a rep his territory's
groups, a group admin the groups he administers); sales and deals answer as missing when their
group is outside the scope. Forms take yuan (``8.88``), parsed exactly to fen; a refusal is
shown on the page with the values entered, nothing written.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from qunyun.activation.flashsales import do_create_flash_sale, flash_sale_detail
from qunyun.activation.groupbuys import do_create_group_buy, group_buy_detail
from qunyun.activation.operations import (
    budget_ledger,
    flash_sales,
    group_buys,
    is_own_rule,
    offer_status,
    red_packets,
)
from qunyun.activation.redpackets import (
    Rule,
    budget_month,
    do_create_red_packet,
    do_set_rule,
    effective_rule,
)
from qunyun.core.clock import format_local, utcnow
from qunyun.core.errors import Conflict, InvalidInput
from qunyun.core.money import format_yuan, parse_yuan
from qunyun.groups.models import Group
from qunyun.org.access import (
    Actor,
    access_group,
    access_in_group,
    actor_tenant,
    may_activate,
    may_set_rules,
    require_activator,
    require_rule_setter,
)
from qunyun.org.models import Tenant
from qunyun.web.console.pages import ConsoleActor, CsrfChecked, ObjectId, _actor
from qunyun.web.console.render import render, templates
from qunyun.web.deps import work

router = APIRouter()

templates.env.filters["yuan"] = format_yuan
templates.env.filters["local"] = format_local

Field = Annotated[str, Form(max_length=200)]
"""A form field as typed: parsed and checked by the handler, so that a mistake is shown on
the page (and an out-of-scope group answers 404 before any field is looked at)."""
NumericId = Annotated[int, Path(ge=1, le=2**62)]
PACKETS_SHOWN = 20
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
"""The value of an ``<input type="datetime-local">``."""


def _fen(text: str, label: str) -> int:
    try:
        return parse_yuan(text)
    except ValueError as error:
        raise InvalidInput(f"{label}：{error}") from error


def _whole(text: str, label: str, least: int) -> int:
    try:
        value = int(text.strip())
    except ValueError as error:
        raise InvalidInput(f"{label}：应为整数（收到 {text!r}）") from error
    if value < least:
        raise InvalidInput(f"{label}：至少为 {least}（收到 {value}）")
    return value


def _moment(text: str, label: str, zone: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), LOCAL_INPUT).replace(tzinfo=ZoneInfo(zone))
    except ValueError as error:
        raise InvalidInput(f"{label}：时间应为 YYYY-MM-DDTHH:MM（收到 {text!r}）") from error


def _input_time(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime(LOCAL_INPUT)


def _see(request: Request, url: str) -> Response:
    """Send the browser to ``url`` after a create: HTMX navigates, a plain form follows a 303."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _common(actor: Actor, tenant: Tenant, group_id: str, section: str) -> dict[str, Any]:
    return {
        "group_id": group_id,
        "section": section,
        "zone": tenant.timezone,
        "can_activate": may_activate(actor),
        "message": None,
        "error": None,
    }


# --- red packets: rule, budget, sending ------------------------------------------------------


def _rule_form(rule: Rule) -> dict[str, str]:
    return {
        "budget": format_yuan(rule.monthly_budget_fen).replace(",", ""),
        "min_total": format_yuan(rule.min_total_fen).replace(",", ""),
        "max_total": format_yuan(rule.max_total_fen).replace(",", ""),
        "min_count": str(rule.min_count),
        "max_count": str(rule.max_count),
        "window_start": rule.window_start,
        "window_end": rule.window_end,
        "expiry_minutes": str(rule.expiry_minutes),
    }


def _red_packet_context(
    session: Session, actor: Actor, tenant: Tenant, group_id: str
) -> dict[str, Any]:
    group = access_group(session, actor, tenant, group_id)
    rule = effective_rule(session, tenant, group_id)
    month = budget_month(utcnow(), tenant.timezone)
    ledger = budget_ledger(session, tenant, group_id, month)
    use = ledger.use
    return {
        **_common(actor, tenant, group_id, "red_packets"),
        "group": group,
        "rule": rule,
        "own_rule": is_own_rule(session, tenant, group_id),
        "use": use,
        "used_share": min(use.spent_fen / use.budget_fen, 1.0) if use.budget_fen else 1.0,
        "entries": ledger.entries,
        "packets": red_packets(session, tenant, group_id, PACKETS_SHOWN),
        "can_set_rule": may_set_rules(actor),
        "rule_form": _rule_form(rule),
        "send_form": {"total": "", "count": ""},
    }


@router.get("/groups/{group_id}/red-packets", response_class=HTMLResponse)
def red_packets_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group's red-packet rule, its budget use this month, the packets; send one."""
    actor = _actor(request)
    with work(request) as session:
        context = _red_packet_context(session, actor, actor_tenant(session, actor), group_id)
    return render(request, "activation_red_packets.html", actor, context)


@router.post("/groups/{group_id}/red-packets", response_class=HTMLResponse)
def send_red_packet(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    total: Field = "",
    count: Field = "",
) -> Response:
    """Send a red packet to the group as the logged-in staff member, from its month budget."""
    require_activator(actor)
    error, sent = None, None
    try:
        with work(request) as session:
            tenant = actor_tenant(session, actor)
            access_group(session, actor, tenant, group_id)
            total_fen = _fen(total, "总金额（元）")
            shares = _whole(count, "红包个数", 1)
            sent = do_create_red_packet(
                session, tenant, group_id, total_fen, shares, sender_id=actor.name
            ).id
    except (InvalidInput, Conflict) as refusal:  # out of bounds, window or budget
        error = refusal.message
    with work(request) as session:
        context = _red_packet_context(session, actor, actor_tenant(session, actor), group_id)
    if error is not None:
        context |= {"error": error, "send_form": {"total": total, "count": count}}
    else:
        context["message"] = ("packet_sent", sent)
    return render(request, "activation_red_packets.html", actor, context)


@router.post("/groups/{group_id}/red-packet-rule", response_class=HTMLResponse)
def set_red_packet_rule(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    budget: Field = "",
    min_total: Field = "",
    max_total: Field = "",
    min_count: Field = "",
    max_count: Field = "",
    window_start: Field = "",
    window_end: Field = "",
    expiry_minutes: Field = "",
) -> Response:
    """Set the group's own red-packet rule (HQ): budget, bounds, window and expiry."""
    require_rule_setter(actor)
    entered = {
        "budget": budget, "min_total": min_total, "max_total": max_total,
        "min_count": min_count, "max_count": max_count, "window_start": window_start,
        "window_end": window_end, "expiry_minutes": expiry_minutes,
    }  # fmt: skip
    error = None
    try:
        with work(request) as session:
            tenant = actor_tenant(session, actor)
            access_group(session, actor, tenant, group_id)
            rule = Rule(
                monthly_budget_fen=_fen(budget, "每月预算（元）"),
                min_total_fen=_fen(min_total, "每个红包最小金额（元）"),
                max_total_fen=_fen(max_total, "每个红包最大金额（元）"),
                min_count=_whole(min_count, "最少个数", 1),
                max_count=_whole(max_count, "最多个数", 1),
                window_start=window_start,
                window_end=window_end,
                expiry_minutes=_whole(expiry_minutes, "过期时间（分钟）", 1),
                scope=group_id,
            )
            do_set_rule(session, tenant, rule)
    except InvalidInput as refusal:
        error = refusal.message
    with work(request) as session:
        context = _red_packet_context(session, actor, actor_tenant(session, actor), group_id)
    if error is not None:
        context |= {"error": error, "rule_form": entered}
    else:
        context["message"] = ("rule_saved", None)
    return render(request, "activation_red_packets.html", actor, context)


# --- flash sales -----------------------------------------------------------------------------


def _offer_form(zone: str, days: float) -> dict[str, str]:
    now = utcnow().replace(second=0, microsecond=0)
    return {
        "sku": "",
        "title": "",
        "price": "",
        "stock": "",
        "limit": "1",
        "team_size": "3",
        "team_minutes": "1440",
        "starts": _input_time(now, zone),
        "ends": _input_time(now + timedelta(days=days), zone),
    }


def _sales_context(session: Session, actor: Actor, tenant: Tenant, group_id: str) -> dict[str, Any]:
    group = access_group(session, actor, tenant, group_id)
    return {
        **_common(actor, tenant, group_id, "flash_sales"),
        "group": group,
        "sales": flash_sales(session, tenant, group_id),
        "form": _offer_form(tenant.timezone, 1 / 24),
    }


@router.get("/groups/{group_id}/flash-sales", response_class=HTMLResponse)
def flash_sales_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group's flash sales (stock, sold, orders) and the form to open one."""
    actor = _actor(request)
    with work(request) as session:
        context = _sales_context(session, actor, actor_tenant(session, actor), group_id)
    return render(request, "activation_flash_sales.html", actor, context)


@router.post("/groups/{group_id}/flash-sales", response_class=HTMLResponse)
def create_flash_sale(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    sku: Field = "",
    title: Field = "",
    price: Field = "",
    stock: Field = "",
    limit: Field = "",
    starts: Field = "",
    ends: Field = "",
) -> Response:
    """Open a flash sale in the group; then show it."""
    require_activator(actor)
    try:
        with work(request) as session:
            tenant = actor_tenant(session, actor)
            access_group(session, actor, tenant, group_id)
            zone = tenant.timezone
            sale = do_create_flash_sale(
                session, tenant, group_id, sku, title, _fen(price, "价格（元）"),
                _whole(stock, "库存", 1), _whole(limit, "每人限购", 1),
                _moment(starts, "开始时间", zone), _moment(ends, "结束时间", zone),
            )  # fmt: skip
            sale_id = sale.id
    except InvalidInput as refusal:
        with work(request) as session:
            context = _sales_context(session, actor, actor_tenant(session, actor), group_id)
        entered = {"sku": sku, "title": title, "price": price, "stock": stock, "limit": limit}
        context |= {"error": refusal.message, "form": context["form"] | entered}
        context["form"] |= {"starts": starts, "ends": ends}
        return render(request, "activation_flash_sales.html", actor, context)
    return _see(request, f"/flash-sales/{sale_id}")


@router.get("/flash-sales/{sale_id}", response_class=HTMLResponse)
def flash_sale_page(request: Request, sale_id: NumericId) -> Response:
    """Show a flash sale: stock, sold, what is left and every order."""
    actor = _actor(request)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        view = flash_sale_detail(session, tenant, sale_id)
        access_in_group(session, actor, tenant, view.group_id, f"没有秒杀 {sale_id}")
        context = {
            **_common(actor, tenant, view.group_id, "flash_sales"),
            "group": session.get_one(Group, (tenant.id, view.group_id)),
            "sale": view,
            "status": offer_status(view.starts_at, view.ends_at, utcnow()).value,
        }
    return render(request, "activation_flash_sale.html", actor, context)


# --- group-buys ------------------------------------------------------------------------------


def _deals_context(session: Session, actor: Actor, tenant: Tenant, group_id: str) -> dict[str, Any]:
    group = access_group(session, actor, tenant, group_id)
    return {
        **_common(actor, tenant, group_id, "group_buys"),
        "group": group,
        "deals": group_buys(session, tenant, group_id),
        "form": _offer_form(tenant.timezone, 7),
    }


@router.get("/groups/{group_id}/group-buys", response_class=HTMLResponse)
def group_buys_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group's 拼团 deals (stock, teams) and the form to open one."""
    actor = _actor(request)
    with work(request) as session:
        context = _deals_context(session, actor, actor_tenant(session, actor), group_id)
    return render(request, "activation_group_buys.html", actor, context)


@router.post("/groups/{group_id}/group-buys", response_class=HTMLResponse)
def create_group_buy(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    sku: Field = "",
    title: Field = "",
    price: Field = "",
    team_size: Field = "",
    stock: Field = "",
    team_minutes: Field = "",
    starts: Field = "",
    ends: Field = "",
) -> Response:
    """Open a 拼团 deal in the group; then show it."""
    require_activator(actor)
    try:
        with work(request) as session:
            tenant = actor_tenant(session, actor)
            access_group(session, actor, tenant, group_id)
            zone = tenant.timezone
            deal = do_create_group_buy(
                session, tenant, group_id, sku, title, _fen(price, "价格（元）"),
                _whole(team_size, "成团人数", 2), _whole(stock, "库存", 1),
                _whole(team_minutes, "成团时限（分钟）", 1),
                _moment(starts, "开始时间", zone), _moment(ends, "结束时间", zone),
            )  # fmt: skip
            deal_id = deal.id
    except InvalidInput as refusal:
        with work(request) as session:
            context = _deals_context(session, actor, actor_tenant(session, actor), group_id)
        entered = {
            "sku": sku, "title": title, "price": price, "team_size": team_size,
            "stock": stock, "team_minutes": team_minutes, "starts": starts, "ends": ends,
        }  # fmt: skip
        context |= {"error": refusal.message, "form": context["form"] | entered}
        return render(request, "activation_group_buys.html", actor, context)
    return _see(request, f"/group-buys/{deal_id}")


@router.get("/group-buys/{deal_id}", response_class=HTMLResponse)
def group_buy_page(request: Request, deal_id: NumericId) -> Response:
    """Show a 拼团 deal: stock sold and reserved, and every team with its members."""
    actor = _actor(request)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        view = group_buy_detail(session, tenant, deal_id)
        access_in_group(session, actor, tenant, view.group_id, f"没有拼团 {deal_id}")
        context = {
            **_common(actor, tenant, view.group_id, "group_buys"),
            "group": session.get_one(Group, (tenant.id, view.group_id)),
            "deal": view,
            "status": offer_status(view.starts_at, view.ends_at, utcnow()).value,
        }
    return render(request, "activation_group_buy.html", actor, context)
