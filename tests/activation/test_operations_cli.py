"""Operators' commands: red-packet rules and budgets, sending, flash sales and group-buys."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from qunyun.activation.flashsales import do_order_flash_sale
from qunyun.activation.groupbuys import do_join_team, do_open_team
from qunyun.activation.models import RedPacket
from qunyun.activation.redpackets import do_expire_red_packets, do_grab_red_packet
from qunyun.core.clock import format_local, utcnow
from qunyun.core.db import unit_of_work
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, group_with_members
from tests.conftest import Cli

ZONE = "Asia/Shanghai"


def _table(output: str) -> tuple[str, list[list[str]]]:
    """Return a Rich table's title and its rows (the header first), each a list of cells.

    Rich wraps a title wider than its table at spaces, so the title comes without spaces.
    """
    lines = output.splitlines()
    top = next(number for number, line in enumerate(lines) if line.lstrip().startswith("┏"))
    rows = [
        [cell.strip() for cell in re.split("[│┃]", line.strip())[1:-1]]
        for line in lines
        if line.lstrip()[:1] in ("│", "┃")
    ]
    return "".join(lines[:top]).replace(" ", ""), rows


def _spaceless(text: str) -> str:
    return text.replace(" ", "")


def test_rules_are_set_per_tenant_and_group_listed_and_cleared(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    # given a group
    group_with_members(engine, tenant, 2)

    # when HQ sets the tenant default and the group's own rule, lists and clears them
    default = cli("redpacket", "rule", "set", "--budget-fen", "50000", "--window", "09:00-21:00")
    own = cli(
        "redpacket", "rule", "set", "--group", "G1", "--budget-fen", "2000",
        "--max-total-fen", "1000", "--max-count", "20", "--window", "00:00-00:00",
        "--expiry-minutes", "60",
    )  # fmt: skip
    listed = cli("redpacket", "rule", "list", "--json")
    table = cli("redpacket", "rule", "list")
    cleared = cli("redpacket", "rule", "clear", "--group", "G1")
    again = cli("redpacket", "rule", "clear", "--group", "G1", expect=1)

    # then the group's rule starts from the default in force and keeps what was left out
    assert default.output == (
        "已设置租户默认红包规则：月预算 ¥500.00 · 每个 ¥1.00–¥200.00 · 1–200 个 · "
        "09:00–21:00 · 1440 分钟过期\n"
    )
    assert own.output == (
        "已设置社群 G1 红包规则：月预算 ¥20.00 · 每个 ¥1.00–¥10.00 · 1–20 个 · "
        "00:00–00:00 · 60 分钟过期\n"
    )
    assert json.loads(listed.stdout) == [
        {
            "scope": "*",
            "monthly_budget_fen": 50000,
            "min_total_fen": 100,
            "max_total_fen": 20000,
            "min_count": 1,
            "max_count": 200,
            "window_start": "09:00",
            "window_end": "21:00",
            "expiry_minutes": 1440,
        },
        {
            "scope": "G1",
            "monthly_budget_fen": 2000,
            "min_total_fen": 100,
            "max_total_fen": 1000,
            "min_count": 1,
            "max_count": 20,
            "window_start": "00:00",
            "window_end": "00:00",
            "expiry_minutes": 60,
        },
    ]
    assert "│ 租户默认 │ ¥500.00 │ ¥1.00–¥200.00 │ 1–200 │ 09:00–21:00 │ 1440" in table.output
    assert "│ G1       │ ¥20.00  │ ¥1.00–¥10.00  │ 1–20  │ 00:00–00:00 │ 60" in table.output
    assert cleared.output == (
        "已删除社群 G1 红包规则；现在适用：月预算 ¥500.00 · 每个 ¥1.00–¥200.00 · 1–200 个 · "
        "09:00–21:00 · 1440 分钟过期\n"
    )
    assert again.stderr == "错误：没有社群 G1 自己的规则\n"


def test_bad_rules_are_refused_naming_the_parameter(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    group_with_members(engine, tenant, 1)

    window = cli("redpacket", "rule", "set", "--window", "9-21", expect=1)
    dash = cli("redpacket", "rule", "set", "--window", "09:00", expect=1)
    totals = cli(
        "redpacket", "rule", "set", "--min-total-fen", "500", "--max-total-fen", "300",
        "--max-count", "50", expect=1,
    )  # fmt: skip
    negative = cli("redpacket", "rule", "set", "--budget-fen", "-1", expect=2)
    unknown = cli("redpacket", "rule", "set", "--group", "G9", "--budget-fen", "1", expect=1)
    listed = cli("redpacket", "rule", "list", "--json")

    assert window.stderr == "错误：--window：时段 '9-21' 有误：时间应为 HH:MM（收到 '9'）\n"
    assert dash.stderr == "错误：--window：时段应为 HH:MM-HH:MM，如 08:00-22:00（收到 '09:00'）\n"
    assert totals.stderr == (
        "错误：红包规则有误：金额范围应满足 1 ≤ 最小 min_total_fen ≤ 最大 max_total_fen"
        "（收到 500 和 300 分）\n"
    )
    assert "Invalid value for '--budget-fen'" in negative.stderr
    assert unknown.stderr == "错误：没有社群 G9\n"
    assert json.loads(listed.stdout) == []


def _all_day(cli: Cli, budget_fen: int) -> None:
    cli("redpacket", "rule", "set", "--budget-fen", str(budget_fen), "--window", "00:00-00:00",
        "--expiry-minutes", "30", "--min-total-fen", "1")  # fmt: skip


def test_staff_send_a_packet_and_the_ledger_shows_spend_and_refund(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    # given an all-day rule with ¥10 a month, and a packet of ¥3 in 3 shares sent by CLI
    members = group_with_members(engine, tenant, 3)
    _all_day(cli, 1000)
    sent = cli("redpacket", "send", "--group", "G1", "--total-fen", "300", "--count", "3",
               "--sender", "R0001")  # fmt: skip
    with unit_of_work(engine) as session:
        packet = session.scalars(select(RedPacket)).one()
        created, expires = packet.created_at, packet.expires_at
    month_text = created.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m")

    # when one member grabs, the packet expires and its remainder returns
    with unit_of_work(engine) as session:
        grab = do_grab_red_packet(session, tenant, packet.id, STORE, members[0])
    with unit_of_work(engine) as session:
        do_expire_red_packets(session, tenant, when=expires + timedelta(seconds=1))
    ledger = cli("redpacket", "budget", "--group", "G1", "--json")
    overview = cli("redpacket", "budget", "--json")
    listed = cli("redpacket", "list", "--json")
    shown = cli("redpacket", "show", str(packet.id), "--json")
    too_much = cli("redpacket", "send", "--group", "G1", "--total-fen", "2000", "--count", "2",
                   expect=1)  # fmt: skip
    too_few = cli("redpacket", "send", "--group", "G1", "--total-fen", "2", "--count", "3",
                  expect=1)  # fmt: skip
    zero = cli("redpacket", "send", "--group", "G1", "--total-fen", "300", "--count", "0",
               expect=2)  # fmt: skip
    bad_month = cli("redpacket", "budget", "--group", "G1", "--month", "2026-13", expect=1)

    # then the send reports the budget left, and the ledger sums to what was spent
    assert sent.output == (
        f"已发红包 #{packet.id}：社群 G1 · ¥3.00 · 3 个 · 本月预算剩余 ¥7.00 · "
        f"{format_local(expires, ZONE)} 过期\n"
    )
    refund = 300 - grab.amount_fen
    assert json.loads(ledger.stdout) == {
        "group_id": "G1",
        "month": month_text,
        "budget_fen": 1000,
        "spent_fen": grab.amount_fen,
        "remaining_fen": 1000 - grab.amount_fen,
        "entries": [
            {
                "at": created.isoformat(),
                "kind": "packet",
                "packet_id": packet.id,
                "relay_id": None,
                "amount_fen": 300,
            },
            {
                "at": (expires + timedelta(seconds=1)).isoformat(),
                "kind": "refund",
                "packet_id": packet.id,
                "relay_id": None,
                "amount_fen": -refund,
            },
        ],
    }
    assert json.loads(overview.stdout) == [
        {
            "group_id": "G1",
            "month": month_text,
            "budget_fen": 1000,
            "spent_fen": grab.amount_fen,
            "remaining_fen": 1000 - grab.amount_fen,
        }
    ]
    assert json.loads(listed.stdout) == [
        {
            "id": packet.id,
            "group_id": "G1",
            "sender_id": "R0001",
            "total_fen": 300,
            "count": 3,
            "grabbed_count": 1,
            "grabbed_fen": grab.amount_fen,
            "refunded_fen": refund,
            "status": "expired",
            "created_at": created.isoformat(),
            "expires_at": expires.isoformat(),
        }
    ]
    assert json.loads(shown.stdout) == {
        "id": packet.id,
        "group_id": "G1",
        "total_fen": 300,
        "count": 3,
        "remaining_fen": refund,
        "status": "expired",
        "grabs": [
            {
                "position": 1,
                "member_kind": "store",
                "member_id": members[0],
                "amount_fen": grab.amount_fen,
                "grabbed_at": grab.grabbed_at.isoformat(),
            }
        ],
    }
    left = 1000 - grab.amount_fen
    assert too_much.stderr == (
        f"错误：社群 G1 {month_text} 红包预算不足：剩余 ¥{left // 100}.{left % 100:02d}，"
        "需要 ¥20.00\n"
    )
    assert too_few.stderr == "错误：总金额 2 分不够 3 人每人 1 分\n"
    assert "Invalid value for '--count'" in zero.stderr
    assert bad_month.stderr == "错误：--month：月份应为 YYYY-MM，如 2026-12（收到 '2026-13'）\n"


def test_a_packet_outside_the_window_is_refused(cli: Cli, engine: Engine, tenant: Tenant) -> None:
    group_with_members(engine, tenant, 1)
    local = utcnow().astimezone(ZoneInfo(ZONE))
    start, end = local + timedelta(hours=1), local + timedelta(hours=2)
    window = f"{start:%H:%M}-{end:%H:%M}"
    cli("redpacket", "rule", "set", "--window", window)

    refused = cli("redpacket", "send", "--group", "G1", "--total-fen", "300", "--count", "3",
                  expect=1)  # fmt: skip

    assert refused.stderr == f"错误：现在不在发红包时段 {start:%H:%M}–{end:%H:%M} 内\n"
    assert json.loads(cli("redpacket", "list", "--json").stdout) == []


def test_flash_sales_are_created_listed_and_shown_with_their_orders(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    # given a group and a sale from 10:00 to 11:00 local on 2 March 2026
    members = group_with_members(engine, tenant, 3)
    created = cli(
        "flashsale", "create", "--group", "G1", "--sku", "SKU-WATER-24", "--title",
        "清泉矿泉水 24 瓶", "--price-fen", "2990", "--stock", "5", "--limit", "2",
        "--starts", "2026-03-02 10:00", "--ends", "2026-03-02 11:00",
    )  # fmt: skip
    sale_id = int(created.output.split("#", 1)[1].split("：", 1)[0])
    inside = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai

    # when two members buy 2 and 1 units
    with unit_of_work(engine) as session:
        first = do_order_flash_sale(session, tenant, sale_id, STORE, members[0], 2, when=inside)
        second = do_order_flash_sale(session, tenant, sale_id, STORE, members[1], 1, when=inside)
        first_id, second_id = first.id, second.id
    listed = cli("flashsale", "list", "--json")
    listed_table = cli("flashsale", "list")
    shown = cli("flashsale", "show", str(sale_id), "--json")
    table = cli("flashsale", "show", str(sale_id))

    # then the listing counts orders and the detail shows stock, sold and every order
    assert created.output == (
        f"已创建秒杀 #{sale_id}：社群 G1 · 清泉矿泉水 24 瓶（SKU-WATER-24）· ¥29.90 · 库存 5 · "
        "每人限购 2 · 2026-03-02 10:00 至 2026-03-02 11:00\n"
    )
    assert json.loads(listed.stdout) == [
        {
            "id": sale_id,
            "group_id": "G1",
            "sku": "SKU-WATER-24",
            "title": "清泉矿泉水 24 瓶",
            "price_fen": 2990,
            "stock": 5,
            "sold": 3,
            "per_member_limit": 2,
            "starts_at": "2026-03-02T02:00:00+00:00",
            "ends_at": "2026-03-02T03:00:00+00:00",
            "orders": 2,
            "status": "ended",
        }
    ]
    assert json.loads(shown.stdout) == {
        "id": sale_id,
        "group_id": "G1",
        "sku": "SKU-WATER-24",
        "title": "清泉矿泉水 24 瓶",
        "price_fen": 2990,
        "per_member_limit": 2,
        "starts_at": "2026-03-02T02:00:00+00:00",
        "ends_at": "2026-03-02T03:00:00+00:00",
        "stock": 5,
        "sold": 3,
        "orders": [
            {
                "order_id": first_id,
                "member_kind": "store",
                "member_id": members[0],
                "qty": 2,
                "amount_fen": 5980,
                "created_at": inside.isoformat(),
            },
            {
                "order_id": second_id,
                "member_kind": "store",
                "member_id": members[1],
                "qty": 1,
                "amount_fen": 2990,
                "created_at": inside.isoformat(),
            },
        ],
    }
    assert _table(listed_table.output) == (
        "秒杀",
        [
            ["编号", "社群", "商品", "价格", "已售/库存", "限购", "订单", "状态", "开始", "结束"],
            [
                str(sale_id), "G1", "清泉矿泉水 24 瓶（SKU-WATER-24）", "¥29.90", "3/5", "2",
                "2", "已结束", "2026-03-02 10:00", "2026-03-02 11:00",
            ],
        ],
    )  # fmt: skip
    assert _table(table.output) == (
        _spaceless(
            f"秒杀 #{sale_id} 清泉矿泉水 24 瓶（SKU-WATER-24）· 社群 G1 · ¥29.90 · 已售 3/5 · "
            "剩余 2 · 每人限购 2 · 2026-03-02 10:00 至 2026-03-02 11:00"
        ),
        [
            ["订单", "成员", "数量", "金额", "下单时间"],
            [str(first_id), members[0], "2", "¥59.80", "2026-03-02 10:30"],
            [str(second_id), members[1], "1", "¥29.90", "2026-03-02 10:30"],
        ],
    )


def test_bad_flash_sales_are_refused_naming_the_parameter(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    group_with_members(engine, tenant, 1)
    base = ["flashsale", "create", "--group", "G1", "--title", "水", "--price-fen", "100"]

    bad_time = cli(*base, "--sku", "S", "--stock", "5", "--ends", "tomorrow", expect=1)
    bad_start = cli(*base, "--sku", "S", "--stock", "5", "--starts", "3/2", "--ends",
                    "2026-03-02 11:00", expect=1)  # fmt: skip
    backwards = cli(*base, "--sku", "S", "--stock", "5", "--starts", "2026-03-02 11:00",
                    "--ends", "2026-03-02 10:00", expect=1)  # fmt: skip
    empty_sku = cli(*base, "--sku", " ", "--stock", "5", "--ends", "2026-03-02 11:00", expect=1)
    no_stock = cli(*base, "--sku", "S", "--stock", "0", "--ends", "2026-03-02 11:00", expect=2)
    no_group = cli("flashsale", "create", "--group", "G9", "--title", "水", "--price-fen", "1",
                   "--sku", "S", "--stock", "1", "--ends", "2030-01-01 00:00", expect=1)  # fmt: skip
    missing = cli("flashsale", "show", "99", expect=1)

    assert bad_time.stderr == "错误：--ends：时间应为 YYYY-MM-DD HH:MM（收到 'tomorrow'）\n"
    assert bad_start.stderr == "错误：--starts：时间应为 YYYY-MM-DD HH:MM（收到 '3/2'）\n"
    assert backwards.stderr == "错误：结束时间 ends_at 应晚于开始时间 starts_at\n"
    assert empty_sku.stderr == "错误：商品编码 sku 应为 1–64 个字符（收到 ' '）\n"
    assert "Invalid value for '--stock'" in no_stock.stderr
    assert no_group.stderr == "错误：没有社群 G9\n"
    assert missing.stderr == "错误：没有秒杀 99\n"
    assert json.loads(cli("flashsale", "list", "--json").stdout) == []


def test_group_buys_are_created_listed_and_shown_with_their_teams(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    # given a deal of teams of 2 within 30 minutes, 4 units, on 2 March 2026 10:00–12:00
    members = group_with_members(engine, tenant, 3)
    created = cli(
        "groupbuy", "create", "--group", "G1", "--sku", "SKU-TEA-6", "--title", "乌龙茶 6 瓶",
        "--price-fen", "1990", "--team-size", "2", "--stock", "4", "--team-minutes", "30",
        "--starts", "2026-03-02 10:00", "--ends", "2026-03-02 12:00",
    )  # fmt: skip
    deal_id = int(created.output.split("#", 1)[1].split("：", 1)[0])
    at = datetime(2026, 3, 2, 2, 10, tzinfo=UTC)  # 10:10 in Shanghai

    # when one team fills and another is opened
    with unit_of_work(engine) as session:
        full = do_open_team(session, tenant, deal_id, STORE, members[0], when=at)
        do_join_team(session, tenant, full.id, STORE, members[1], when=at)
        waiting = do_open_team(session, tenant, deal_id, STORE, members[2], when=at)
        full_id, waiting_id = full.id, waiting.id
    listed = cli("groupbuy", "list", "--json")
    listed_table = cli("groupbuy", "list")
    shown = cli("groupbuy", "show", str(deal_id), "--json")
    table = cli("groupbuy", "show", str(deal_id))
    small = cli(
        "groupbuy", "create", "--group", "G1", "--sku", "S", "--title", "茶", "--price-fen",
        "1", "--team-size", "3", "--stock", "2", "--ends", "2030-01-01 00:00", expect=1,
    )  # fmt: skip
    lonely = cli(
        "groupbuy", "create", "--group", "G1", "--sku", "S", "--title", "茶", "--price-fen",
        "1", "--team-size", "1", "--stock", "2", "--ends", "2030-01-01 00:00", expect=2,
    )  # fmt: skip

    # then the deal counts its teams, sold and reserved units
    assert created.output == (
        f"已创建拼团 #{deal_id}：社群 G1 · 乌龙茶 6 瓶（SKU-TEA-6）· ¥19.90 · 2 人成团 · "
        "30 分钟内 · 库存 4 · 2026-03-02 10:00 至 2026-03-02 12:00\n"
    )
    assert json.loads(listed.stdout) == [
        {
            "id": deal_id,
            "group_id": "G1",
            "sku": "SKU-TEA-6",
            "title": "乌龙茶 6 瓶",
            "price_fen": 1990,
            "team_size": 2,
            "team_minutes": 30,
            "stock": 4,
            "reserved": 1,
            "sold": 2,
            "starts_at": "2026-03-02T02:00:00+00:00",
            "ends_at": "2026-03-02T04:00:00+00:00",
            "open_teams": 1,
            "complete_teams": 1,
            "status": "ended",
        }
    ]
    assert _table(listed_table.output) == (
        "拼团",
        [
            ["编号", "社群", "商品", "价格", "成团", "已售/占用/库存", "进行中的团", "已成团",
             "状态", "结束"],
            [str(deal_id), "G1", "乌龙茶 6 瓶（SKU-TEA-6）", "¥19.90", "2 人", "2/1/4", "1", "1",
             "已结束", "2026-03-02 12:00"],
        ],
    )  # fmt: skip
    deadline = (at + timedelta(minutes=30)).isoformat()
    detail, listed_deal = json.loads(shown.stdout), json.loads(listed.stdout)[0]
    counted = ("open_teams", "complete_teams", "status")  # the listing's, not the detail's
    assert {key: value for key, value in detail.items() if key != "teams"} == {
        key: value for key, value in listed_deal.items() if key not in counted
    }
    assert _table(table.output) == (
        _spaceless(
            f"拼团 #{deal_id} 乌龙茶 6 瓶（SKU-TEA-6）· 社群 G1 · ¥19.90 · 2 人成团 · 已售 2 · "
            "占用 1 · 库存 4"
        ),
        [
            ["团", "团长", "人数", "状态", "截止", "成员"],
            [str(waiting_id), members[2], "1/2", "拼团中", "2026-03-02 10:40", members[2]],
            [str(full_id), members[0], "2/2", "已成团", "2026-03-02 10:40",
             f"{members[0]}、{members[1]}"],
        ],
    )  # fmt: skip
    assert detail["teams"] == [
        {
            "team_id": waiting_id,
            "leader_id": members[2],
            "status": "open",
            "joined": 1,
            "deadline": deadline,
            "members": [{"member_kind": "store", "member_id": members[2]}],
        },
        {
            "team_id": full_id,
            "leader_id": members[0],
            "status": "complete",
            "joined": 2,
            "deadline": deadline,
            "members": [
                {"member_kind": "store", "member_id": members[0]},
                {"member_kind": "store", "member_id": members[1]},
            ],
        },
    ]
    assert small.stderr == "错误：库存 stock 至少够一个团（3 件，收到 2）\n"
    assert "Invalid value for '--team-size'" in lonely.stderr
