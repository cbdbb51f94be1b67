"""Flash-sale orders, completed 拼团 teams and 接龙 orders reach the event lake as ``order`` events.

A 拼团 member's unit is revenue only when the team completes (one event per member, at the
deal's price, at the completing join); a team cancelled at its deadline writes none.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from qunyun.activation.events import LakeExport, do_export_events_to_lake, pending_events
from qunyun.activation.flashsales import do_create_flash_sale, do_order_flash_sale, order_in_batch
from qunyun.activation.groupbuys import (
    do_cancel_expired_teams,
    do_create_group_buy,
    do_join_team,
    do_open_team,
)
from qunyun.activation.hot import RedisHotState
from qunyun.activation.lane import HotLane
from qunyun.activation.models import CollectedOrder
from qunyun.activation.orderlists import ListItem, do_add_line, do_cutoff, do_open_order_list
from qunyun.analytics.lake import open_lake
from qunyun.core.db import unit_of_work
from qunyun.events.actions import tenant_lake
from qunyun.jobs import run_due_work
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0, group_with_members, path_state
from tests.conftest import Cli

FIELDS = ("kind", "group_id", "member_kind", "member_id", "order_id", "amount_fen", "ts")


@pytest.fixture(params=["sql", "redis"])
def path(request: pytest.FixtureRequest) -> RedisHotState | None:
    return path_state(request)


def _lake_orders(tenant: Tenant) -> list[tuple[object, ...]]:
    """Return the tenant's events in the lake as ``FIELDS`` and red_packet_id, by member and order."""
    events = open_lake(tenant_lake(tenant)).events
    rows = events.select("event_id", "red_packet_id", *FIELDS).to_pyarrow().to_pylist()
    assert len({row["event_id"] for row in rows}) == len(rows)
    found = [(*(row[name] for name in FIELDS), row["red_packet_id"]) for row in rows]
    return sorted(found, key=lambda row: (str(row[3]), str(row[4])))


def _sales(engine: Engine, tenant: Tenant, path: RedisHotState | None) -> tuple[int, int, int]:
    """S001 buys 2 units (¥9.90 each); S002–S004 complete a team of 3 (¥19.90); S005's fails.

    Return the order id, the completed team and the cancelled one.
    """
    group_with_members(engine, tenant, 5)
    with unit_of_work(engine) as session:
        sale = do_create_flash_sale(
            session, tenant, "G1", "SKU1", "清泉矿泉水", 990, 10, 2, T0, T0 + timedelta(hours=1)
        ).id
        deal = do_create_group_buy(
            session, tenant, "G1", "SKU2", "三人团 土鸡蛋", 1990, 3, 9, 30, T0,
            T0 + timedelta(days=1),
        ).id  # fmt: skip
    with unit_of_work(engine) as session:
        order = do_order_flash_sale(
            session, tenant, sale, STORE, "S001", 2, when=T0 + timedelta(minutes=1), hot=path
        ).id
    with unit_of_work(engine) as session:
        team = do_open_team(session, tenant, deal, STORE, "S002", when=T0, hot=path).id
        failed = do_open_team(session, tenant, deal, STORE, "S005", when=T0, hot=path).id
    for member, minutes in (("S003", 2), ("S004", 3)):
        with unit_of_work(engine) as session:
            at = T0 + timedelta(minutes=minutes)
            do_join_team(session, tenant, team, STORE, member, when=at, hot=path)
    with unit_of_work(engine) as session:
        cancelled = do_cancel_expired_teams(
            session, tenant, when=T0 + timedelta(minutes=31), hot=path
        )
    assert cancelled == [failed]
    return order, team, failed


def test_a_flash_sale_order_and_a_completed_team_reach_the_lake_once_and_a_failed_team_never(
    cli: Cli, engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    # given a flash-sale order, a team completed by its third member and a cancelled team
    order, team, _ = _sales(engine, tenant, path)

    # when the due work runs, twice
    first = cli("jobs", "run")
    in_lake = _lake_orders(tenant)
    second = cli("jobs", "run")

    # then the lake holds the order and one unit per member of the completed team, at the
    # moment the team completed, none of the cancelled team's leader; the second run added
    # nothing
    completed = T0 + timedelta(minutes=3)
    assert first.output == "acme：4 条活动事件已写入事件湖\n"
    assert second.output == "没有到期的工作。\n"
    assert in_lake == [
        ("order", "G1", "store", "S001", f"flash_sale:{order}", 1980, T0 + timedelta(minutes=1),
         None),
        ("order", "G1", "store", "S002", f"group_buy:{team}:store:S002", 1990, completed, None),
        ("order", "G1", "store", "S003", f"group_buy:{team}:store:S003", 1990, completed, None),
        ("order", "G1", "store", "S004", f"group_buy:{team}:store:S004", 1990, completed, None),
    ]  # fmt: skip
    assert _lake_orders(tenant) == in_lake
    assert tenant_lake(tenant).manifest().event_count == 4
    with unit_of_work(engine) as session:
        assert pending_events(session, tenant) == []


def test_a_team_cancelled_at_its_deadline_writes_no_order_event(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    # given a team of three with two members
    group_with_members(engine, tenant, 2)
    with unit_of_work(engine) as session:
        deal = do_create_group_buy(
            session, tenant, "G1", "SKU2", "三人团", 1990, 3, 9, 30, T0, T0 + timedelta(days=1)
        ).id
        team = do_open_team(session, tenant, deal, STORE, "S001", when=T0, hot=path).id
        do_join_team(session, tenant, team, STORE, "S002", when=T0, hot=path)
        assert pending_events(session, tenant) == []

    # when its deadline passes
    with unit_of_work(engine) as session:
        cancelled = do_cancel_expired_teams(
            session, tenant, when=T0 + timedelta(minutes=30), hot=path
        )

    # then it is cancelled and no order waits for the lake
    assert cancelled == [team]
    with unit_of_work(engine) as session:
        assert pending_events(session, tenant) == []
    assert run_due_work(T0 + timedelta(minutes=31)).exported_events == {}


def test_orders_exported_again_after_a_crash_are_one_event_each(
    engine: Engine, tenant: Tenant
) -> None:
    # given an export of the orders that appended them, then died before its commit
    _sales(engine, tenant, None)
    crashed: list[LakeExport] = []

    def export_then_die() -> None:
        with unit_of_work(engine) as session:
            crashed.append(do_export_events_to_lake(session, tenant))
            raise RuntimeError("the process died before the commit")

    with pytest.raises(RuntimeError):
        export_then_die()

    # when the due work runs
    report = run_due_work()

    # then the four orders were exported again, and the lake dropped them as duplicates
    assert [(export.exported, export.appended) for export in crashed] == [(4, 4)]
    assert report.exported_events == {"acme": 4}
    assert len(_lake_orders(tenant)) == 4
    assert tenant_lake(tenant).manifest().event_count == 4


def test_orders_a_lane_batch_placed_together_are_in_the_outbox(
    engine: Engine, tenant: Tenant
) -> None:
    # given a sale and three members
    group_with_members(engine, tenant, 3)
    with unit_of_work(engine) as session:
        sale = do_create_flash_sale(
            session, tenant, "G1", "SKU1", "秒杀", 990, 10, 2, T0, T0 + timedelta(hours=1)
        ).id

    # when their orders reach the hot lane together (one statement on PostgreSQL)
    lane = HotLane(engine)
    try:
        futures = lane.submit_together(
            [
                order_in_batch(
                    tenant_id=tenant.id,
                    sale_id=sale,
                    member_kind=STORE,
                    member_id=member,
                    qty=qty,
                    when=T0,
                )
                for member, qty in (("S001", 1), ("S002", 2), ("S003", 1))
            ]
        )
        orders = [future.result(timeout=60) for future in futures]
    finally:
        lane.close()

    # then each order waits in the outbox as its member's order of the sale's group
    with unit_of_work(engine) as session:
        pending = pending_events(session, tenant)
    assert lane.batches == 1
    assert sorted(
        (e.kind, e.group_id, e.member_id, e.order_id, e.amount_fen, e.ts, e.red_packet_id)
        for e in pending
    ) == [
        ("order", "G1", "S001", f"flash_sale:{orders[0]}", 990, T0, None),
        ("order", "G1", "S002", f"flash_sale:{orders[1]}", 1980, T0, None),
        ("order", "G1", "S003", f"flash_sale:{orders[2]}", 990, T0, None),
    ]
    assert len({event.event_id for event in pending}) == 3


MORNING = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
NOON = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def test_a_cutoff_makes_each_collected_order_an_order_event(engine: Engine, tenant: Tenant) -> None:
    # given today's 接龙 list with S002's two lines and S003's one
    group_with_members(engine, tenant, 3)
    items = [
        ListItem("EGG30", "土鸡蛋 30 枚", 2990, "WH1"),
        ListItem("MILK", "鲜牛奶", 1250, "WH1"),
    ]
    with unit_of_work(engine) as session:
        list_id = do_open_order_list(
            session, tenant, "G1", STORE, "S001", items, 500, when=MORNING
        ).id
        for member, item, qty in (("S002", "EGG30", 2), ("S002", "MILK", 1), ("S003", "MILK", 1)):
            do_add_line(session, tenant, list_id, STORE, member, item, qty, when=MORNING)

    # when the noon cutoff locks them and the work exports the events
    with unit_of_work(engine) as session:
        summary = do_cutoff(session, tenant, NOON)
    report = run_due_work(NOON + timedelta(minutes=1))

    # then each member's order is one event of the list's group, at the cutoff
    assert summary.orders == 2
    assert report.exported_events == {"acme": 2}
    rows = _lake_orders(tenant)
    assert [row[:4] + row[5:] for row in rows] == [
        ("order", "G1", "store", "S002", 2 * 2990 + 1250, NOON, None),
        ("order", "G1", "store", "S003", 1250, NOON, None),
    ]
    with unit_of_work(engine) as session:
        collected = dict(session.execute(select(CollectedOrder.member_id, CollectedOrder.id)).all())
    assert [row[4] for row in rows] == [
        f"order_list:{collected['S002']}",
        f"order_list:{collected['S003']}",
    ]


def test_the_funnel_counts_orders_of_sales_and_completed_teams_as_revenue(
    cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given five stores who joined G1 that morning (in the lake), then bought: S001 in the
    # flash sale, S002–S004 in a completed team, S005 in a team that failed
    joins = tmp_path / "joins.jsonl"
    joins.write_text(
        "".join(
            json.dumps(
                {
                    "event_id": f"join-{member}",
                    "ts": "2026-03-02T08:00:00+08:00",
                    "kind": "join",
                    "group_id": "G1",
                    "member_kind": "store",
                    "member_id": member,
                    "scene": "qr",
                }
            )
            + "\n"
            for member in ("S001", "S002", "S003", "S004", "S005")
        ),
        encoding="utf-8",
    )
    cli("events", "import", joins)
    _sales(engine, tenant, None)
    cli("jobs", "run")
    out = tmp_path / "funnel.csv"

    # when the funnel is exported
    cli("analytics", "export", "funnel", "--out", out, "--as-of", "2026-03-02")

    # then the four buyers are its revenue, the failed team's leader is not
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "matrix,acquired,activated,retained,revenue,referral"
    assert [line for line in lines[1:] if line.startswith("store,")] == ["store,5,0,0,4,0"]
