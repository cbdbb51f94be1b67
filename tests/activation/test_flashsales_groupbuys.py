from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from qunyun.activation.errors import Ended, LimitExceeded, NotStarted, SoldOut
from qunyun.activation.flashsales import do_create_flash_sale, do_order_flash_sale
from qunyun.activation.groupbuys import (
    AlreadyJoined,
    do_cancel_expired_teams,
    do_create_group_buy,
    do_join_team,
    do_open_team,
    team_members,
)
from qunyun.activation.hot import RedisHotState
from qunyun.activation.models import FlashSale, GroupBuy, TeamStatus
from qunyun.core.db import unit_of_work
from qunyun.core.errors import NotFound
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0, group_with_members, path_state


@pytest.fixture(params=["sql", "redis"])
def path(request: pytest.FixtureRequest) -> RedisHotState | None:
    return path_state(request)


def _sale(engine: Engine, tenant: Tenant, stock: int = 5, limit: int = 2) -> int:
    with unit_of_work(engine) as session:
        sale = do_create_flash_sale(
            session,
            tenant,
            "G1",
            "SKU1",
            "清泉矿泉水",
            990,
            stock,
            limit,
            T0,
            T0 + timedelta(hours=1),
        )
        return sale.id


def _order(
    engine: Engine, tenant: Tenant, sale_id: int, member: str, qty: int, minutes: int,
    path: RedisHotState | None, attempt: str | None = None,
) -> int:  # fmt: skip
    with unit_of_work(engine) as session:
        order = do_order_flash_sale(
            session, tenant, sale_id, STORE, member, qty,
            attempt_id=attempt, when=T0 + timedelta(minutes=minutes), hot=path,
        )  # fmt: skip
        return order.id


def test_a_flash_sale_refuses_outside_its_window_past_the_limit_and_beyond_stock(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    group_with_members(engine, tenant, 4)
    sale_id = _sale(engine, tenant)

    with pytest.raises(NotStarted, match=r"尚未开始$"):
        _order(engine, tenant, sale_id, "S001", 1, -1, path)
    first = _order(engine, tenant, sale_id, "S001", 2, 1, path)
    with pytest.raises(LimitExceeded, match=r"^每人限购 2 件$"):
        _order(engine, tenant, sale_id, "S001", 1, 2, path)
    _order(engine, tenant, sale_id, "S002", 2, 3, path)
    with pytest.raises(SoldOut, match=r"库存不足$"):
        _order(engine, tenant, sale_id, "S003", 2, 4, path)
    last = _order(engine, tenant, sale_id, "S003", 1, 5, path)
    with pytest.raises(Ended, match=r"已结束$"):
        _order(engine, tenant, sale_id, "S004", 1, 60, path)
    with pytest.raises(NotFound, match=r"^没有秒杀 \d+$"):
        _order(engine, tenant, sale_id, "S999", 1, 5, path)

    assert last - first == 2


def test_a_retried_attempt_returns_its_first_order(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    group_with_members(engine, tenant, 1)
    sale_id = _sale(engine, tenant, stock=5, limit=1)

    first = _order(engine, tenant, sale_id, "S001", 1, 1, path, attempt="req-1")
    again = _order(engine, tenant, sale_id, "S001", 1, 2, path, attempt="req-1")

    assert again == first
    with pytest.raises(LimitExceeded):
        _order(engine, tenant, sale_id, "S001", 1, 3, path, attempt="req-2")


_ROWS_READ = text(
    "SELECT c.relname, pg_stat_get_xact_tuples_returned(c.oid) FROM pg_class c"
    " WHERE c.oid = CAST('flash_sale_orders' AS regclass) OR c.oid IN"
    " (SELECT indexrelid FROM pg_index WHERE indrelid = CAST('flash_sale_orders' AS regclass))"
)
"""Rows of ``flash_sale_orders`` read by this backend's scans, by table (sequential) and index.

The counts are the backend's not yet reported, which include its earlier transactions'; within
one transaction they only grow."""


def test_an_order_without_an_attempt_id_reads_none_of_the_sales_orders(
    engine: Engine, tenant: Tenant
) -> None:
    """Whatever plan PostgreSQL prepared: a generic one, made while a sale had few orders,
    looked for the attempt's earlier order among every order of the sale, a cost per order
    that grew with the sale."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared plans")
    # given a sale with 12 orders
    members = group_with_members(engine, tenant, 12)
    sale_id = _sale(engine, tenant, stock=100, limit=10)
    for member in members:
        _order(engine, tenant, sale_id, member, 1, 1, None)

    # when 12 more are placed in one transaction, on generic plans (psycopg prepares a
    # statement at its 5th run)
    with unit_of_work(engine) as session:
        session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        before = dict(session.execute(_ROWS_READ).all())
        placed = [
            do_order_flash_sale(
                session, tenant, sale_id, STORE, member, 1, when=T0 + timedelta(minutes=2)
            ).id
            for member in members
        ]
        after = dict(session.execute(_ROWS_READ).all())

    # then no order was looked for among the sale's orders: the only rows read are the new
    # ones, each once by its id (the ORM's load of the order)
    assert len(set(placed)) == 12
    assert {name: after[name] - before[name] for name in after} == {
        "flash_sale_orders": 0,
        "pk_flash_sale_orders": 12,
        "uq_flash_sale_orders_sale_id_attempt_id": 0,
        "ix_flash_sale_orders_member": 0,
    }
    with unit_of_work(engine) as session:
        sale = session.get(FlashSale, sale_id)
        assert sale is not None
        assert sale.sold == 24


def _deal(engine: Engine, tenant: Tenant, stock: int = 6) -> int:
    with unit_of_work(engine) as session:
        deal = do_create_group_buy(
            session, tenant, "G1", "SKU2", "三人团 土鸡蛋", 1990, 3, stock, 30, T0,
            T0 + timedelta(days=1),
        )  # fmt: skip
        return deal.id


def test_a_team_completes_at_its_size_and_sells_its_units(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    group_with_members(engine, tenant, 4)
    deal_id = _deal(engine, tenant)
    with unit_of_work(engine) as session:
        team_id = do_open_team(session, tenant, deal_id, STORE, "S001", when=T0, hot=path).id
        do_join_team(session, tenant, team_id, STORE, "S002", when=T0, hot=path)
        team = do_join_team(session, tenant, team_id, STORE, "S003", when=T0, hot=path)
        assert (team.status, team.joined) == (TeamStatus.COMPLETE, 3)

    with pytest.raises(Ended, match=r"已结束$"), unit_of_work(engine) as session:
        do_join_team(session, tenant, team_id, STORE, "S004", when=T0, hot=path)
    with pytest.raises(AlreadyJoined), unit_of_work(engine) as session:
        do_open_team(session, tenant, deal_id, STORE, "S002", when=T0, hot=path)
    with pytest.raises(NotFound, match=r"^没有拼团 \d+$"), unit_of_work(engine) as session:
        do_open_team(session, tenant, deal_id, STORE, "S999", when=T0, hot=path)
    with unit_of_work(engine) as session:
        deal = session.get_one(GroupBuy, deal_id)
        assert (deal.reserved, deal.sold) == (0, 3)
        assert [member for _, member in team_members(session, team_id)] == ["S001", "S002", "S003"]


def test_a_team_short_at_its_deadline_is_cancelled_and_releases_stock(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    group_with_members(engine, tenant, 4)
    deal_id = _deal(engine, tenant, stock=3)
    with unit_of_work(engine) as session:
        team_id = do_open_team(session, tenant, deal_id, STORE, "S001", when=T0, hot=path).id
        do_join_team(session, tenant, team_id, STORE, "S002", when=T0, hot=path)
        other = do_open_team(session, tenant, deal_id, STORE, "S003", when=T0, hot=path).id
    with pytest.raises(SoldOut), unit_of_work(engine) as session:
        do_open_team(session, tenant, deal_id, STORE, "S004", when=T0, hot=path)

    later = T0 + timedelta(minutes=31)
    with unit_of_work(engine) as session:
        cancelled = do_cancel_expired_teams(session, tenant, when=later, hot=path)
    with pytest.raises(Ended, match=r"已结束$"), unit_of_work(engine) as session:
        do_join_team(session, tenant, other, STORE, "S004", when=later, hot=path)
    with unit_of_work(engine) as session:
        again_cancelled = do_cancel_expired_teams(session, tenant, when=later, hot=path)
        deal = session.get_one(GroupBuy, deal_id)
        assert (deal.reserved, deal.sold) == (0, 0)
        assert team_members(session, team_id) == []
        again = do_open_team(
            session, tenant, deal_id, STORE, "S002", when=T0 + timedelta(hours=1), hot=path
        )

    assert cancelled == sorted([team_id, other])
    assert again_cancelled == []
    assert again.joined == 1


def test_an_attempt_claimed_in_redis_but_never_committed_is_committed_by_its_retry(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> None:
    # given a sale whose Redis state took 2 units for an attempt whose process then died
    group_with_members(engine, tenant, 2)
    sale_id = _sale(engine, tenant, stock=5, limit=2)
    _order(engine, tenant, sale_id, "S002", 1, 1, hot)
    claimed = hot.buy(
        sale_id, "store:S001", 2, int((T0 + timedelta(minutes=2)).timestamp() * 1000), "a-1"
    )

    # when the member's phone retries the attempt
    retried = _order(engine, tenant, sale_id, "S001", 2, 3, hot, attempt="a-1")
    again = _order(engine, tenant, sale_id, "S001", 2, 4, hot, attempt="a-1")

    # then the retry commits the claimed units once, and a second retry returns that order
    assert claimed.status == "ok"
    assert again == retried
    with unit_of_work(engine) as session:
        assert session.get_one(FlashSale, sale_id).sold == 3
