from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from qunyun.activation.cutoffs import tenant_cutoff_times
from qunyun.activation.errors import Ended
from qunyun.activation.orderlists import (
    ListItem,
    delivery_batch,
    do_add_line,
    do_cutoff,
    do_open_order_list,
    latest_cutoff,
    order_list_detail,
    partner_commissions,
    pick_list,
)
from qunyun.channel.models import ContactKind
from qunyun.core.db import unit_of_work
from qunyun.core.errors import Conflict
from qunyun.org.actions import do_create_tenant
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, group_with_members
from tests.conftest import Cli

MORNING = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
NOON = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00
EVENING = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 20:00
ITEMS = [
    ListItem("EGG30", "土鸡蛋 30 枚", 2990, "WH1"),
    ListItem("RICE5", "五常大米 5kg", 6800, "WH1"),
    ListItem("MILK", "鲜牛奶 1L", 1250, "S-DAIRY"),
]


def _open(engine: Engine, tenant: Tenant) -> int:
    group_with_members(engine, tenant, 4)
    with unit_of_work(engine) as session:
        order_list = do_open_order_list(
            session, tenant, "G1", STORE, "S001", ITEMS, 500, when=MORNING
        )
        return order_list.id


def test_a_noon_cutoff_turns_lines_into_orders_picked_and_delivered_the_same_afternoon(
    engine: Engine, tenant: Tenant
) -> None:
    # given today's list and lines before and after noon
    list_id = _open(engine, tenant)
    with unit_of_work(engine) as session:
        for member, item, qty, minutes in [
            ("S002", "EGG30", 2, 0), ("S002", "MILK", 1, 5), ("S003", "RICE5", 1, 10),
            ("S004", "EGG30", 1, 200),
        ]:  # fmt: skip
            do_add_line(
                session, tenant, list_id, STORE, member, item, qty,
                when=MORNING + timedelta(minutes=minutes),
            )  # fmt: skip

    # when the noon cutoff runs (S004's line at 12:20 waits for the evening)
    with unit_of_work(engine) as session:
        summary = do_cutoff(
            session, tenant, latest_cutoff(session, tenant, NOON + timedelta(minutes=30))
        )
        picks = pick_list(session, tenant, summary.cutoff_id)
        batch = delivery_batch(session, tenant, summary.cutoff_id)
        commissions = partner_commissions(session, tenant, summary.cutoff_id)

    # then two orders, picked per supplier, delivered this afternoon, 5% to the partner
    assert (summary.cutoff_at, summary.orders, summary.lines) == (NOON, 2, 3)
    assert summary.amount_fen == 2 * 2990 + 1250 + 6800
    assert (summary.deliver_on, summary.delivery_slot) == (date(2026, 3, 2), "afternoon")
    assert picks == [
        ["S-DAIRY", "MILK", "鲜牛奶 1L", 1, 1250],
        ["WH1", "EGG30", "土鸡蛋 30 枚", 2, 5980],
        ["WH1", "RICE5", "五常大米 5kg", 1, 6800],
    ]
    assert [row[:3] + row[4:] for row in batch] == [
        ["S-DAIRY", "G1", "S001", "store", "S002", 1250, "2026-03-02", "afternoon"],
        ["WH1", "G1", "S001", "store", "S002", 5980, "2026-03-02", "afternoon"],
        ["WH1", "G1", "S001", "store", "S003", 6800, "2026-03-02", "afternoon"],
    ]
    assert commissions == {"S001": (7230 * 500 // 10_000) + (6800 * 500 // 10_000)}
    with unit_of_work(engine) as session:
        evening = do_cutoff(session, tenant, EVENING)
    assert (evening.orders, evening.lines, evening.deliver_on, evening.delivery_slot) == (
        1, 1, date(2026, 3, 3), "morning",
    )  # fmt: skip


def test_lines_close_at_the_last_cutoff_and_a_cutoff_runs_once(
    engine: Engine, tenant: Tenant
) -> None:
    list_id = _open(engine, tenant)
    with unit_of_work(engine) as session:
        do_cutoff(session, tenant, NOON)

    with pytest.raises(Ended, match=r"已截单$"), unit_of_work(engine) as session:
        do_add_line(session, tenant, list_id, STORE, "S002", "EGG30", 1, when=EVENING)
    with (
        pytest.raises(Conflict, match=r"^2026-03-02 12:00 的截单已完成$"),
        unit_of_work(engine) as session,
    ):
        do_cutoff(session, tenant, NOON)
    with pytest.raises(Conflict, match=r"今天的接龙已开$"), unit_of_work(engine) as session:
        do_open_order_list(session, tenant, "G1", STORE, "S001", ITEMS, 500, when=MORNING)


def test_the_commands_open_add_cut_off_and_export(
    cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    group_with_members(engine, tenant, 3)
    items = tmp_path / "items.csv"
    items.write_text("item_code,name,price_fen,supplier_id\nEGG30,土鸡蛋 30 枚,2990,WH1\n", "utf-8")

    opened = cli("jielong", "open", "--group", "G1", "--partner-kind", "store", "--partner",
                 "S001", "--items", items, "--commission", "5", "--at", "2026-03-02 09:00")  # fmt: skip
    list_id = opened.output.split("接龙 #", 1)[1].split(" ", 1)[0].split("（", 1)[0]
    cli("jielong", "add", list_id, "--member-kind", "store", "--member", "S002", "--item",
        "EGG30", "--qty", "3", "--at", "2026-03-02 10:00")  # fmt: skip
    cut = cli("jielong", "cutoff", "--at", "2026-03-02 12:05")
    cutoff_id = cut.output.split("截单 #", 1)[1].split(" ", 1)[0].split("：", 1)[0]
    cli("jielong", "picklist", cutoff_id, "--out", tmp_path / "pick.csv")
    delivery = cli("jielong", "delivery", cutoff_id, "--out", tmp_path / "batch.csv")

    assert "1 张订单" in cut.output
    assert "2026-03-02 下午送达" in cut.output
    rows = list(csv.reader((tmp_path / "pick.csv").open(encoding="utf-8")))
    assert rows == [
        ["supplier_id", "item_code", "name", "qty", "amount_fen"],
        ["WH1", "EGG30", "土鸡蛋 30 枚", "3", "8970"],
    ]
    assert "S002" in delivery.output
    assert ContactKind.STORE.value in (tmp_path / "batch.csv").read_text(encoding="utf-8")


def test_a_tenant_with_its_own_cutoffs_cuts_off_and_closes_at_them(
    engine: Engine, tenant: Tenant, cli: Cli
) -> None:
    # given acme cutting off at 11:30 and 19:00, and a second tenant on the default times
    set_ = cli("jielong", "cutoffs", "--tenant", "acme", "19:00", "11:30")
    with unit_of_work(engine) as session:
        other = do_create_tenant(session, "beta", "另一个品牌")
    list_id = _open(engine, tenant)
    with unit_of_work(engine) as session:
        for member, minutes in [("S002", 0), ("S003", 160)]:  # 09:00 and 11:40
            do_add_line(
                session, tenant, list_id, STORE, member, "EGG30", 1,
                when=MORNING + timedelta(minutes=minutes),
            )  # fmt: skip

    # when the cutoff of 12:05 runs
    with unit_of_work(engine) as session:
        moment = latest_cutoff(session, tenant, NOON + timedelta(minutes=5))
        summary = do_cutoff(session, tenant, moment)
        other_moment = latest_cutoff(session, other, NOON + timedelta(minutes=5))
        closes = order_list_detail(session, tenant, list_id, when=NOON).closes_at

    # then it is the 11:30 one (the 11:40 line waits), lists close at 19:00, beta keeps 12:00
    assert set_.output.strip() == "acme 的截单时间：11:30 19:00（本品牌设置）"
    assert (summary.cutoff_at, summary.lines) == (NOON - timedelta(minutes=30), 1)
    assert (summary.deliver_on, summary.delivery_slot) == (date(2026, 3, 2), "afternoon")
    assert other_moment == NOON
    assert closes == EVENING - timedelta(hours=1)
    with pytest.raises(Ended, match=r"已截单$"), unit_of_work(engine) as session:
        do_add_line(session, tenant, list_id, STORE, "S002", "RICE5", 1, when=EVENING)
    shown = cli("jielong", "cutoffs", "--tenant", "beta")
    assert shown.output.strip() == "beta 的截单时间：12:00 20:00（默认（QUNYUN_ORDER_CUTOFFS））"
    reset = cli("jielong", "cutoffs", "--tenant", "acme", "--reset")
    assert reset.output.strip() == "acme 的截单时间：12:00 20:00（默认（QUNYUN_ORDER_CUTOFFS））"


@pytest.mark.parametrize(
    ("times", "message"),
    [
        (["11:30", "25:00"], "第 2 个截单时间 '25:00' 有误：应为 HH:MM"),
        (["11:30", "11:30"], "截单时间有重复"),
        (["noon"], "第 1 个截单时间 'noon' 有误：应为 HH:MM"),
    ],
)
def test_bad_cutoff_times_are_refused_naming_the_time(
    cli: Cli, tenant: Tenant, engine: Engine, times: list[str], message: str
) -> None:
    refused = cli("jielong", "cutoffs", "--tenant", "acme", *times, expect=1)

    assert refused.output.strip() == f"错误：{message}"
    with unit_of_work(engine) as session:
        assert tenant_cutoff_times(session, tenant) == [time(12, 0), time(20, 0)]
