from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from qunyun.activation.errors import Ended
from qunyun.activation.orderlists import (
    ListItem,
    delivery_batch,
    do_add_line,
    do_cutoff,
    do_open_order_list,
    latest_cutoff,
    partner_commissions,
    pick_list,
)
from qunyun.channel.models import ContactKind
from qunyun.core.db import unit_of_work
from qunyun.core.errors import Conflict
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
        summary = do_cutoff(session, tenant, latest_cutoff(tenant, NOON + timedelta(minutes=30)))
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
