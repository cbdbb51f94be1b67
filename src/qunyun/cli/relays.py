"""``qunyun relay …``: 红包接龙 relays, where each round's best luck sends the next round.

Money on the command line is integer fen (``--total-fen 300`` is ¥3.00), as for
``redpacket send``; output shows yuan. An operator sends the next round on behalf of the
member the last round asked (as the console does).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from qunyun.cli.activation import (
    STATUS_LABELS,
    GroupOption,
    JsonOption,
    _iso,
    _table,
    _write_json,
    _yuan,
)
from qunyun.cli.main import TenantOption, _tenant, _unit_of_work, app, console, reported_errors
from qunyun.core.clock import format_local

relay_app = typer.Typer(
    help="红包接龙：每轮手气最佳者发下一轮（start / list / show / next / stop）。",
    no_args_is_help=True,
)
app.add_typer(relay_app, name="relay")

RelayId = Annotated[int, typer.Argument(help="红包接龙编号。")]
RELAY_LABELS = {"running": "进行中", "done": "已完成", "stopped": "已停止"}


def _asked(relay: Any) -> str:
    """Return who is asked to send the next round, or why nobody is."""
    if relay.status.value != "running":
        return "—"
    if relay.next_sender_id is None:
        return "本轮还在抢"
    return f"{relay.next_sender_kind.value}:{relay.next_sender_id}"


def _relay_json(view: Any) -> dict[str, Any]:
    relay = view.relay
    return {
        "id": relay.id,
        "group_id": relay.group_id,
        "total_fen": relay.total_fen,
        "count": relay.count,
        "rounds": relay.rounds,
        "rounds_sent": relay.rounds_sent,
        "status": relay.status.value,
        "next_sender": None
        if relay.next_sender_kind is None or relay.next_sender_id is None
        else {"member_kind": relay.next_sender_kind.value, "member_id": relay.next_sender_id},
        "refunded_fen": relay.refunded_fen,
        "created_at": _iso(relay.created_at),
        "closed_at": _iso(relay.closed_at),
        "packets": [
            {
                "round": round_.number,
                "packet_id": round_.packet_id,
                "sender_id": round_.sender_id,
                "grabbed_count": round_.grabbed_count,
                "grabbed_fen": round_.grabbed_fen,
                "status": round_.status.value,
                "best_luck_id": round_.best_luck_id,
                "best_luck_fen": round_.best_luck_fen,
            }
            for round_ in view.rounds
        ],
    }


def _print_relay(view: Any, zone: str) -> None:
    relay = view.relay
    table = _table(
        "轮次", "红包", "发出人", "已领", "已领金额", "状态", "手气最佳", "发出时间",
        title=f"红包接龙 #{relay.id} · 社群 {relay.group_id} · 每轮 {_yuan(relay.total_fen)} · "
        f"{relay.count} 个 · 已发 {relay.rounds_sent}/{relay.rounds} 轮 · "
        f"{RELAY_LABELS[relay.status.value]}",
    )  # fmt: skip
    for round_ in view.rounds:
        best = "—"
        if round_.best_luck_id is not None and round_.best_luck_fen is not None:
            best = f"{round_.best_luck_id} {_yuan(round_.best_luck_fen)}"
        table.add_row(
            str(round_.number), f"#{round_.packet_id}", round_.sender_id,
            f"{round_.grabbed_count}/{round_.count}", _yuan(round_.grabbed_fen),
            STATUS_LABELS[round_.status.value], best, format_local(round_.created_at, zone),
        )  # fmt: skip
    console.print(table)
    if relay.status.value == "running":
        console.print(f"下一轮发出人：{_asked(relay)}")
    if relay.refunded_fen:
        console.print(f"已退回预算 {_yuan(relay.refunded_fen)}")


@relay_app.command("start", help="在社群开始红包接龙并发出第 1 轮（各轮预算一次预留）。Start.")
def relay_start(
    group: Annotated[str, typer.Option("--group", "-g", help="社群编号。")],
    total_fen: Annotated[int, typer.Option("--total-fen", help="每轮总金额（分）。", min=1)],
    count: Annotated[int, typer.Option("--count", help="每轮红包个数。", min=1)],
    rounds: Annotated[int, typer.Option("--rounds", help="轮数。", min=1)],
    sender: Annotated[str, typer.Option("--sender", help="记为第 1 轮发送人的员工编号。")] = "cli",
    tenant: TenantOption = None,
) -> None:
    """Start a relay in a group and send its first round; every round is paid now."""
    from qunyun.activation.operations import relay_detail
    from qunyun.activation.redpackets import budget_left, do_start_relay

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        relay = do_start_relay(
            session, tenant_row, group, total_fen, count, rounds, sender_id=sender
        )
        view = relay_detail(session, tenant_row, relay.id)
        left = budget_left(session, tenant_row, group, relay.created_at)
    console.print(
        f"已开始红包接龙 #{view.relay.id}：社群 {group} · 每轮 {_yuan(total_fen)} · {count} 个 · "
        f"{rounds} 轮（预留 {_yuan(total_fen * rounds)}，本月预算剩余 {_yuan(left)}）"
    )
    console.print(f"第 1 轮红包 #{view.rounds[0].packet_id} 已发出")


@relay_app.command("list", help="列出红包接龙（最新在前）。List relays.")
def relay_list(
    group: GroupOption = None, as_json: JsonOption = False, tenant: TenantOption = None
) -> None:
    """List the latest relays of the tenant or a group."""
    from qunyun.activation.operations import relays

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        rows, zone = relays(session, tenant_row, group), tenant_row.timezone
    if as_json:
        _write_json(
            [
                {
                    "id": row.id,
                    "group_id": row.group_id,
                    "total_fen": row.total_fen,
                    "count": row.count,
                    "rounds": row.rounds,
                    "rounds_sent": row.rounds_sent,
                    "status": row.status.value,
                    "next_sender_id": row.next_sender_id,
                    "refunded_fen": row.refunded_fen,
                    "created_at": _iso(row.created_at),
                }
                for row in rows
            ]
        )
        return
    table = _table(
        "编号", "社群", "每轮", "个数", "已发轮数", "状态", "下一轮发出人", "开始", title="红包接龙"
    )  # fmt: skip
    for row in rows:
        table.add_row(
            str(row.id), row.group_id, _yuan(row.total_fen), str(row.count),
            f"{row.rounds_sent}/{row.rounds}", RELAY_LABELS[row.status.value], _asked(row),
            format_local(row.created_at, zone),
        )  # fmt: skip
    console.print(table)


@relay_app.command("show", help="一个红包接龙：各轮红包、手气最佳者、下一轮发出人。Show a relay.")
def relay_show(relay_id: RelayId, as_json: JsonOption = False, tenant: TenantOption = None) -> None:
    """Show a relay with its rounds and who is asked to send the next one."""
    from qunyun.activation.operations import relay_detail

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        view, zone = relay_detail(session, tenant_row, relay_id), tenant_row.timezone
    if as_json:
        _write_json(_relay_json(view))
        return
    _print_relay(view, zone)


@relay_app.command("next", help="代上一轮手气最佳者发出下一轮。Send the next round.")
def relay_next(relay_id: RelayId, tenant: TenantOption = None) -> None:
    """Send a relay's next round on behalf of the member its last round asked."""
    from qunyun.activation.operations import relay_detail
    from qunyun.activation.redpackets import do_send_relay_round

    with reported_errors(), _unit_of_work() as session:
        tenant_row = _tenant(session, tenant)
        packet = do_send_relay_round(session, tenant_row, relay_id)
        view = relay_detail(session, tenant_row, relay_id)
        packet_id, sender = packet.id, packet.sender_id
    relay = view.relay
    console.print(
        f"红包接龙 #{relay_id} 第 {relay.rounds_sent}/{relay.rounds} 轮红包 #{packet_id} 已发出"
        f"（代 {sender} 发出）"
    )
    if relay.rounds_sent == relay.rounds:
        console.print("这是最后一轮：抢完后接龙结束")


@relay_app.command("stop", help="在两轮之间停止接龙，未发出的轮次退回预算。Stop a relay.")
def relay_stop(relay_id: RelayId, tenant: TenantOption = None) -> None:
    """Stop a relay between rounds; its unsent rounds return to the month budget."""
    from qunyun.activation.redpackets import do_stop_relay

    with reported_errors(), _unit_of_work() as session:
        relay = do_stop_relay(session, _tenant(session, tenant), relay_id)
        status, refunded = relay.status.value, relay.refunded_fen
    console.print(f"红包接龙 #{relay_id}：{RELAY_LABELS[status]}，已退回预算 {_yuan(refunded)}")
