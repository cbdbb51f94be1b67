"""Operators' commands of activation: red-packet rules and budgets, sending, sales and deals.

Money on the command line is integer fen, as in the API and ``redpacket simulate``
(``--total-fen 888`` is ¥8.88); output shows yuan. Times are the tenant's local
``YYYY-MM-DD HH:MM``. Each command parses, resolves the tenant, calls one action or query and
renders a Rich table, or JSON with ``--json``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from qunyun.cli.main import (
    TenantOption,
    _local_time,
    _tenant,
    _unit_of_work,
    console,
    reported_errors,
)
from qunyun.core.clock import format_local
from qunyun.core.errors import InvalidInput
from qunyun.core.money import format_yuan

rule_app = typer.Typer(
    help="红包规则（每个租户默认、每个社群自己的）：set / list / clear。", no_args_is_help=True
)
flashsale_app = typer.Typer(help="秒杀：create / list / show。", no_args_is_help=True)
groupbuy_app = typer.Typer(help="拼团：create / list / show。", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="输出 JSON。")]
GroupOption = Annotated[str | None, typer.Option("--group", "-g", help="社群编号。")]
STATUS_LABELS = {
    "open": "可抢",
    "finished": "已抢完",
    "expired": "已过期",
    "upcoming": "未开始",
    "live": "进行中",
    "ended": "已结束",
}
TEAM_LABELS = {"open": "拼团中", "complete": "已成团", "cancelled": "已取消"}


def register(app: typer.Typer, redpacket_app: typer.Typer) -> None:
    """Add the commands of this module to ``qunyun`` and ``qunyun redpacket``."""
    redpacket_app.add_typer(rule_app, name="rule")
    redpacket_app.command(
        "send", help="以员工身份在社群发红包（从社群月预算支付）。Send a packet."
    )(redpacket_send)
    redpacket_app.command("list", help="列出已发红包（最新在前）。List sent packets.")(
        redpacket_list
    )
    redpacket_app.command("show", help="一个红包及其领取记录。Show a packet and its grabs.")(
        redpacket_show
    )
    redpacket_app.command(
        "budget", help="社群月预算：预算、已用、剩余与流水。Budget use and ledger."
    )(redpacket_budget)
    app.add_typer(flashsale_app, name="flashsale")
    app.add_typer(groupbuy_app, name="groupbuy")


def _yuan(fen: int) -> str:
    return f"¥{format_yuan(fen)}"


def _signed_yuan(fen: int) -> str:
    return f"+¥{format_yuan(fen)}" if fen >= 0 else f"−¥{format_yuan(-fen)}"


def _table(*headers: str, title: str) -> Table:
    """Return a table whose long cells wrap rather than being cut (a phone-width terminal)."""
    return Table(*(Column(header, overflow="fold") for header in headers), title=title)


def _write_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _option_time(text: str | None, zone: str, option: str) -> datetime:
    """Return a local ``YYYY-MM-DD HH:MM`` (now when None); name ``option`` when it is bad."""
    try:
        return _local_time(text, zone)
    except InvalidInput as error:
        raise InvalidInput(f"{option}：{error.message}") from error


# --- red-packet rules ------------------------------------------------------------------------


@rule_app.command("set", help="设置红包规则（--group 为该社群，否则为租户默认）。Set a rule.")
def rule_set(
    group: GroupOption = None,
    budget_fen: Annotated[
        int | None, typer.Option("--budget-fen", help="每个社群每月预算（分）。", min=0)
    ] = None,
    min_total_fen: Annotated[
        int | None, typer.Option("--min-total-fen", help="每个红包最小总金额（分）。", min=1)
    ] = None,
    max_total_fen: Annotated[
        int | None, typer.Option("--max-total-fen", help="每个红包最大总金额（分）。", min=1)
    ] = None,
    min_count: Annotated[
        int | None, typer.Option("--min-count", help="每个红包最少个数。", min=1)
    ] = None,
    max_count: Annotated[
        int | None, typer.Option("--max-count", help="每个红包最多个数。", min=1)
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="可发红包的当地时段 HH:MM-HH:MM；00:00-00:00 为全天。"),
    ] = None,
    expiry_minutes: Annotated[
        int | None,
        typer.Option("--expiry-minutes", help="多少分钟后未领完的退回预算。", min=1),
    ] = None,
    tenant: TenantOption = None,
) -> None:
    """Set the rule of a group (or the tenant's default); options left out keep their value."""
    from qunyun.activation.models import ALL_GROUPS
    from qunyun.activation.operations import do_change_rule, parse_window

    scope = group if group is not None else ALL_GROUPS
    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        changes: dict[str, Any] = {
            "monthly_budget_fen": budget_fen,
            "min_total_fen": min_total_fen,
            "max_total_fen": max_total_fen,
            "min_count": min_count,
            "max_count": max_count,
            "expiry_minutes": expiry_minutes,
        }
        if window is not None:
            try:
                changes["window_start"], changes["window_end"] = parse_window(window)
            except InvalidInput as error:
                raise InvalidInput(f"--window：{error.message}") from error
        saved = do_change_rule(session, tenant_row, scope, changes)
    where = "租户默认" if scope == ALL_GROUPS else f"社群 {scope} "
    console.print(f"已设置{where}红包规则：{_rule_text(saved)}")


def _rule_text(rule: Any) -> str:
    return (
        f"月预算 {_yuan(rule.monthly_budget_fen)} · 每个 {_yuan(rule.min_total_fen)}–"
        f"{_yuan(rule.max_total_fen)} · {rule.min_count}–{rule.max_count} 个 · "
        f"{rule.window_start}–{rule.window_end} · {rule.expiry_minutes} 分钟过期"
    )


def _rule_json(rule: Any) -> dict[str, Any]:
    return {
        "scope": rule.scope,
        "monthly_budget_fen": rule.monthly_budget_fen,
        "min_total_fen": rule.min_total_fen,
        "max_total_fen": rule.max_total_fen,
        "min_count": rule.min_count,
        "max_count": rule.max_count,
        "window_start": rule.window_start,
        "window_end": rule.window_end,
        "expiry_minutes": rule.expiry_minutes,
    }


@rule_app.command("list", help="列出租户默认规则和各社群自己的规则。List rules.")
def rule_list(as_json: JsonOption = False, tenant: TenantOption = None) -> None:
    """List the tenant's default rule and the groups' own rules."""
    from qunyun.activation.models import ALL_GROUPS
    from qunyun.activation.operations import rules
    from qunyun.activation.redpackets import DEFAULT_RULE

    with reported_errors(), _unit_of_work() as session:
        found = rules(session, _tenant(session, tenant))
    if as_json:
        _write_json([_rule_json(rule) for rule in found])
        return
    table = _table(
        "范围", "月预算", "每个金额", "个数", "时段", "过期（分钟）", title="红包规则"
    )  # fmt: skip
    for rule in found:
        table.add_row(
            "租户默认" if rule.scope == ALL_GROUPS else rule.scope,
            _yuan(rule.monthly_budget_fen),
            f"{_yuan(rule.min_total_fen)}–{_yuan(rule.max_total_fen)}",
            f"{rule.min_count}–{rule.max_count}",
            f"{rule.window_start}–{rule.window_end}",
            str(rule.expiry_minutes),
        )
    console.print(table)
    if not any(rule.scope == ALL_GROUPS for rule in found):
        console.print(f"没有租户默认规则的社群用内置默认：{_rule_text(DEFAULT_RULE)}")


@rule_app.command("clear", help="删除规则，改用上一级（租户默认或内置默认）。Clear a rule.")
def rule_clear(group: GroupOption = None, tenant: TenantOption = None) -> None:
    """Remove a group's own rule (or, without ``--group``, the tenant's default)."""
    from qunyun.activation.models import ALL_GROUPS
    from qunyun.activation.operations import do_clear_rule

    scope = group if group is not None else ALL_GROUPS
    with reported_errors(), _unit_of_work() as session:
        now_in_force = do_clear_rule(session, _tenant(session, tenant), scope)
    where = "租户默认" if scope == ALL_GROUPS else f"社群 {scope} "
    console.print(f"已删除{where}红包规则；现在适用：{_rule_text(now_in_force)}")


# --- red packets -----------------------------------------------------------------------------


def redpacket_send(
    group: Annotated[str, typer.Option("--group", "-g", help="社群编号。")],
    total_fen: Annotated[int, typer.Option("--total-fen", help="总金额（分）。", min=1)],
    count: Annotated[int, typer.Option("--count", help="红包个数。", min=1)],
    sender: Annotated[str, typer.Option("--sender", help="记为发送人的员工编号。")] = "cli",
    tenant: TenantOption = None,
) -> None:
    """Send a red packet into a group as staff, paid from the group's month budget."""
    from qunyun.activation.redpackets import budget_left, do_create_red_packet

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        packet = do_create_red_packet(
            session, tenant_row, group, total_fen, count, sender_id=sender
        )
        left = budget_left(session, tenant_row, group, packet.created_at)
        packet_id, expires = packet.id, format_local(packet.expires_at, tenant_row.timezone)
    console.print(
        f"已发红包 #{packet_id}：社群 {group} · {_yuan(total_fen)} · {count} 个 · "
        f"本月预算剩余 {_yuan(left)} · {expires} 过期"
    )


def redpacket_list(
    group: GroupOption = None, as_json: JsonOption = False, tenant: TenantOption = None
) -> None:
    """List the latest red packets of the tenant or a group."""
    from qunyun.activation.operations import red_packets

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        rows, zone = red_packets(session, tenant_row, group), tenant_row.timezone
    if as_json:
        _write_json(
            [
                {
                    "id": row.id,
                    "group_id": row.group_id,
                    "sender_id": row.sender_id,
                    "total_fen": row.total_fen,
                    "count": row.count,
                    "grabbed_count": row.grabbed_count,
                    "grabbed_fen": row.grabbed_fen,
                    "refunded_fen": row.refunded_fen,
                    "status": row.status.value,
                    "created_at": _iso(row.created_at),
                    "expires_at": _iso(row.expires_at),
                }
                for row in rows
            ]
        )
        return
    table = _table(
        "编号", "社群", "总金额", "已领", "已领金额", "状态", "发出", "过期", title="红包"
    )
    for row in rows:
        table.add_row(
            str(row.id), row.group_id, _yuan(row.total_fen), f"{row.grabbed_count}/{row.count}",
            _yuan(row.grabbed_fen), STATUS_LABELS[row.status.value],
            format_local(row.created_at, zone), format_local(row.expires_at, zone),
        )  # fmt: skip
    console.print(table)


def redpacket_show(
    packet_id: Annotated[int, typer.Argument(help="红包编号。")],
    as_json: JsonOption = False,
    tenant: TenantOption = None,
) -> None:
    """Show a red packet with its grabs by position."""
    from qunyun.activation.redpackets import red_packet_detail

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        view, zone = red_packet_detail(session, tenant_row, packet_id), tenant_row.timezone
    if as_json:
        _write_json(
            {
                "id": view.id,
                "group_id": view.group_id,
                "total_fen": view.total_fen,
                "count": view.count,
                "remaining_fen": view.remaining_fen,
                "status": view.status.value,
                "grabs": [
                    {
                        "position": grab.position,
                        "member_kind": grab.member_kind.value,
                        "member_id": grab.member_id,
                        "amount_fen": grab.amount_fen,
                        "grabbed_at": _iso(grab.grabbed_at),
                    }
                    for grab in view.grabs
                ],
            }
        )
        return
    table = _table(
        "顺序",
        "成员",
        "金额",
        "领取时间",
        title=f"红包 #{view.id} · 社群 {view.group_id} · {_yuan(view.total_fen)} · "
        f"{len(view.grabs)}/{view.count} 个已领 · 剩余 {_yuan(view.remaining_fen)} · "
        f"{STATUS_LABELS[view.status.value]}",
    )
    for grab in view.grabs:
        table.add_row(
            str(grab.position), grab.member_id, _yuan(grab.amount_fen),
            format_local(grab.grabbed_at, zone),
        )  # fmt: skip
    console.print(table)


LEDGER_LABELS = {"packet": "红包", "relay": "红包接龙", "refund": "退回"}


def redpacket_budget(
    group: GroupOption = None,
    month: Annotated[
        str | None, typer.Option("--month", help="当地月份 YYYY-MM（默认本月）。")
    ] = None,
    as_json: JsonOption = False,
    tenant: TenantOption = None,
) -> None:
    """Show a group's budget for a month with its ledger, or every group that spent in it."""
    from qunyun.activation.operations import (
        budget_ledger,
        budget_uses,
        check_month,
        current_month,
    )

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        zone = tenant_row.timezone
        try:
            chosen = check_month(month) if month is not None else current_month(tenant_row)
        except InvalidInput as error:
            raise InvalidInput(f"--month：{error.message}") from error
        if group is None:
            uses = budget_uses(session, tenant_row, chosen)
            ledger = None
        else:
            ledger = budget_ledger(session, tenant_row, group, chosen)
            uses = [ledger.use]
    if as_json and ledger is None:
        _write_json([_use_json(use) for use in uses])
        return
    if as_json and ledger is not None:
        _write_json(
            {
                **_use_json(ledger.use),
                "entries": [
                    {
                        "at": _iso(entry.at),
                        "kind": entry.kind.value,
                        "packet_id": entry.packet_id,
                        "relay_id": entry.relay_id,
                        "amount_fen": entry.amount_fen,
                    }
                    for entry in ledger.entries
                ],
            }
        )
        return
    table = _table("社群", "月份", "预算", "已用", "剩余", title="红包预算")
    for use in uses:
        table.add_row(
            use.group_id, use.month, _yuan(use.budget_fen), _yuan(use.spent_fen),
            _yuan(use.remaining_fen),
        )  # fmt: skip
    console.print(table)
    if ledger is not None:
        entries = _table("时间", "项目", "编号", "金额", title=f"预算流水 {group} {chosen}")
        for entry in ledger.entries:
            number = entry.packet_id if entry.packet_id is not None else entry.relay_id
            entries.add_row(
                format_local(entry.at, zone), LEDGER_LABELS[entry.kind.value], f"#{number}",
                _signed_yuan(entry.amount_fen),
            )  # fmt: skip
        console.print(entries)


def _use_json(use: Any) -> dict[str, Any]:
    return {
        "group_id": use.group_id,
        "month": use.month,
        "budget_fen": use.budget_fen,
        "spent_fen": use.spent_fen,
        "remaining_fen": use.remaining_fen,
    }


# --- flash sales and group-buys: offers -------------------------------------------------------

StartsOption = Annotated[
    str | None, typer.Option("--starts", help="开始，当地时间 YYYY-MM-DD HH:MM（默认现在）。")
]
EndsOption = Annotated[str, typer.Option("--ends", help="结束，当地时间 YYYY-MM-DD HH:MM。")]
SkuOption = Annotated[str, typer.Option("--sku", help="商品编码。")]
TitleOption = Annotated[str, typer.Option("--title", help="标题（会员页面上显示）。")]
PriceOption = Annotated[int, typer.Option("--price-fen", help="价格（分）。", min=0)]


@dataclass(frozen=True)
class _Cell:
    """A column of a table of offers (or their orders and teams): header, text in a zone."""

    header: str
    text: Callable[[Any, str], str]


_NUMBER = _Cell("编号", lambda offer, _: str(offer.id))
_GROUP = _Cell("社群", lambda offer, _: offer.group_id)
_PRODUCT = _Cell("商品", lambda offer, _: f"{offer.title}（{offer.sku}）")
_PRICE = _Cell("价格", lambda offer, _: _yuan(offer.price_fen))
_STATUS = _Cell("状态", lambda offer, _: STATUS_LABELS[offer.status.value])
_STARTS = _Cell("开始", lambda offer, zone: format_local(offer.starts_at, zone))
_ENDS = _Cell("结束", lambda offer, zone: format_local(offer.ends_at, zone))
SALE_COLUMNS = (
    _NUMBER, _GROUP, _PRODUCT, _PRICE,
    _Cell("已售/库存", lambda sale, _: f"{sale.sold:,}/{sale.stock:,}"),
    _Cell("限购", lambda sale, _: str(sale.figures.per_member_limit)),
    _Cell("订单", lambda sale, _: str(sale.figures.orders)),
    _STATUS, _STARTS, _ENDS,
)  # fmt: skip
DEAL_COLUMNS = (
    _NUMBER, _GROUP, _PRODUCT, _PRICE,
    _Cell("成团", lambda deal, _: f"{deal.figures.team_size} 人"),
    _Cell("已售/占用/库存", lambda deal, _: f"{deal.sold:,}/{deal.figures.reserved:,}/{deal.stock:,}"),
    _Cell("进行中的团", lambda deal, _: str(deal.figures.open_teams)),
    _Cell("已成团", lambda deal, _: str(deal.figures.complete_teams)),
    _STATUS, _ENDS,
)  # fmt: skip
ORDER_COLUMNS = (
    _Cell("订单", lambda order, _: str(order.id)),
    _Cell("成员", lambda order, _: order.member_id),
    _Cell("数量", lambda order, _: str(order.qty)),
    _Cell("金额", lambda order, _: _yuan(order.amount_fen)),
    _Cell("下单时间", lambda order, zone: format_local(order.created_at, zone)),
)


def _print_table(title: str, columns: tuple[_Cell, ...], rows: list[Any], zone: str) -> None:
    table = _table(*(cell.header for cell in columns), title=title)
    for row in rows:
        table.add_row(*(cell.text(row, zone) for cell in columns))
    console.print(table)


def _offer_json(offer: Any, **own: Any) -> dict[str, Any]:
    """Return what every offer shows in JSON (a listing row or a detail), then its own fields."""
    return {
        "id": offer.id,
        "group_id": offer.group_id,
        "sku": offer.sku,
        "title": offer.title,
        "price_fen": offer.price_fen,
        "stock": offer.stock,
        "sold": offer.sold,
        "starts_at": _iso(offer.starts_at),
        "ends_at": _iso(offer.ends_at),
        **own,
    }


def _offer_heading(kind: str, offer: Any, *own: str) -> str:
    return f"{kind} #{offer.id} {offer.title}（{offer.sku}）· " + " · ".join(
        (f"社群 {offer.group_id}", _yuan(offer.price_fen), *own)
    )


def _list_offers(
    listing: Callable[[Any, Any, str | None], list[Any]],
    kind: str,
    columns: tuple[_Cell, ...],
    group: str | None,
    as_json: bool,
    tenant: str | None,
) -> None:
    """Print the latest offers of one kind, as a table of ``columns`` or as JSON."""
    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        rows, zone = listing(session, tenant_row, group), tenant_row.timezone
    if as_json:
        _write_json(
            [
                _offer_json(row, **dataclasses.asdict(row.figures), status=row.status.value)
                for row in rows
            ]
        )
        return
    _print_table(kind, columns, rows, zone)


def _read_offer(detail: Callable[[Any, Any, int], Any], offer_id: int, tenant: str | None) -> Any:
    """Return an offer's detail and the tenant's zone."""
    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        return detail(session, tenant_row, offer_id), tenant_row.timezone


def _create_offer(
    create: Callable[[Any, Any, datetime, datetime], Any],
    kind: str,
    starts: str | None,
    ends: str,
    tenant: str | None,
    *own: str,
) -> None:
    """Create an offer through ``create(session, tenant, starts_at, ends_at)`` and say so."""
    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        zone = tenant_row.timezone
        starts_at = _option_time(starts, zone, "--starts")
        ends_at = _option_time(ends, zone, "--ends")
        offer = create(session, tenant_row, starts_at, ends_at)
    window = f"{format_local(starts_at, zone)} 至 {format_local(ends_at, zone)}"
    console.print(
        f"已创建{kind} #{offer.id}：社群 {offer.group_id} · {offer.title}（{offer.sku}）· "
        + " · ".join((_yuan(offer.price_fen), *own, window))
    )


@flashsale_app.command("create", help="在社群开一个秒杀。Create a flash sale in a group.")
def flashsale_create(
    group: Annotated[str, typer.Option("--group", "-g", help="社群编号。")],
    sku: SkuOption,
    title: TitleOption,
    price_fen: PriceOption,
    stock: Annotated[int, typer.Option("--stock", help="库存（件）。", min=1)],
    ends: EndsOption,
    limit: Annotated[int, typer.Option("--limit", help="每人限购（件）。", min=1)] = 1,
    starts: StartsOption = None,
    tenant: TenantOption = None,
) -> None:
    """Create a flash sale: SKU, price, stock, per-member limit, start and end."""
    from qunyun.activation.flashsales import do_create_flash_sale

    _create_offer(
        lambda session, tenant_row, starts_at, ends_at: do_create_flash_sale(
            session, tenant_row, group, sku, title, price_fen, stock, limit, starts_at, ends_at
        ),
        "秒杀", starts, ends, tenant, f"库存 {stock:,}", f"每人限购 {limit}",
    )  # fmt: skip


@flashsale_app.command("list", help="列出秒杀（最新在前）。List flash sales.")
def flashsale_list(
    group: GroupOption = None, as_json: JsonOption = False, tenant: TenantOption = None
) -> None:
    """List the latest flash sales of the tenant or a group."""
    from qunyun.activation.operations import flash_sales

    _list_offers(flash_sales, "秒杀", SALE_COLUMNS, group, as_json, tenant)


@flashsale_app.command("show", help="一个秒杀：库存、已售和订单。Show a flash sale.")
def flashsale_show(
    sale_id: Annotated[int, typer.Argument(help="秒杀编号。")],
    as_json: JsonOption = False,
    tenant: TenantOption = None,
) -> None:
    """Show a flash sale with its stock, units sold and orders."""
    from qunyun.activation.flashsales import flash_sale_detail

    view, zone = _read_offer(flash_sale_detail, sale_id, tenant)
    if as_json:
        orders = [
            {
                "order_id": order.id,
                "member_kind": order.member_kind.value,
                "member_id": order.member_id,
                "qty": order.qty,
                "amount_fen": order.amount_fen,
                "created_at": _iso(order.created_at),
            }
            for order in view.orders
        ]
        _write_json(_offer_json(view, per_member_limit=view.per_member_limit, orders=orders))
        return
    heading = _offer_heading(
        "秒杀", view, f"已售 {view.sold:,}/{view.stock:,}", f"剩余 {view.stock - view.sold:,}",
        f"每人限购 {view.per_member_limit}",
        f"{format_local(view.starts_at, zone)} 至 {format_local(view.ends_at, zone)}",
    )  # fmt: skip
    _print_table(heading, ORDER_COLUMNS, view.orders, zone)


@groupbuy_app.command("create", help="在社群开一个拼团。Create a group-buy deal in a group.")
def groupbuy_create(
    group: Annotated[str, typer.Option("--group", "-g", help="社群编号。")],
    sku: SkuOption,
    title: TitleOption,
    price_fen: PriceOption,
    team_size: Annotated[int, typer.Option("--team-size", help="成团人数。", min=2)],
    stock: Annotated[int, typer.Option("--stock", help="库存（件，每人一件）。", min=1)],
    ends: EndsOption,
    team_minutes: Annotated[
        int, typer.Option("--team-minutes", help="开团后多少分钟内成团。", min=1)
    ] = 24 * 60,
    starts: StartsOption = None,
    tenant: TenantOption = None,
) -> None:
    """Create a 拼团 deal: teams of ``--team-size`` that must fill within ``--team-minutes``."""
    from qunyun.activation.groupbuys import do_create_group_buy

    _create_offer(
        lambda session, tenant_row, starts_at, ends_at: do_create_group_buy(
            session, tenant_row, group, sku, title, price_fen, team_size, stock, team_minutes,
            starts_at, ends_at,
        ),
        "拼团", starts, ends, tenant, f"{team_size} 人成团", f"{team_minutes} 分钟内",
        f"库存 {stock:,}",
    )  # fmt: skip


@groupbuy_app.command("list", help="列出拼团（最新在前）。List group-buy deals.")
def groupbuy_list(
    group: GroupOption = None, as_json: JsonOption = False, tenant: TenantOption = None
) -> None:
    """List the latest 拼团 deals of the tenant or a group."""
    from qunyun.activation.operations import group_buys

    _list_offers(group_buys, "拼团", DEAL_COLUMNS, group, as_json, tenant)


@groupbuy_app.command("show", help="一个拼团：库存和各团成员。Show a deal and its teams.")
def groupbuy_show(
    deal_id: Annotated[int, typer.Argument(help="拼团编号。")],
    as_json: JsonOption = False,
    tenant: TenantOption = None,
) -> None:
    """Show a 拼团 deal with its stock and every team (newest first) with its members."""
    from qunyun.activation.groupbuys import group_buy_detail

    view, zone = _read_offer(group_buy_detail, deal_id, tenant)
    if as_json:
        teams = [
            {
                "team_id": team.id,
                "leader_id": team.leader_id,
                "status": team.status.value,
                "joined": team.joined,
                "deadline": _iso(team.deadline),
                "members": [
                    {"member_kind": kind.value, "member_id": member}
                    for kind, member in team.members
                ],
            }
            for team in view.teams
        ]
        own = {"team_size": view.team_size, "team_minutes": view.team_minutes}
        _write_json(_offer_json(view, **own, reserved=view.reserved, teams=teams))
        return
    heading = _offer_heading(
        "拼团", view, f"{view.team_size} 人成团", f"已售 {view.sold:,}",
        f"占用 {view.reserved:,}", f"库存 {view.stock:,}",
    )  # fmt: skip
    team_columns = (
        _Cell("团", lambda team, _: str(team.id)),
        _Cell("团长", lambda team, _: team.leader_id),
        _Cell("人数", lambda team, _: f"{team.joined}/{view.team_size}"),
        _Cell("状态", lambda team, _: TEAM_LABELS[team.status.value]),
        _Cell("截止", lambda team, zone: format_local(team.deadline, zone)),
        _Cell("成员", lambda team, _: "、".join(member for _, member in team.members)),
    )
    _print_table(heading, team_columns, view.teams, zone)
