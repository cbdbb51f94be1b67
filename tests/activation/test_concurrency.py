"""Invariants under real concurrency: threads and processes, on SQLite, PostgreSQL and Redis.

Every worker attempts every member (in its own rotation, so that the same member is tried by
several workers at once), each attempt its own transaction.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from qunyun.activation.events import pending_events
from qunyun.activation.flashsales import do_create_flash_sale, flash_sale_detail, units_bought
from qunyun.activation.groupbuys import (
    do_cancel_expired_teams,
    do_create_group_buy,
    do_open_team,
    group_buy_detail,
)
from qunyun.activation.hot import RedisHotState
from qunyun.activation.models import PacketStatus, TeamStatus
from qunyun.activation.redpackets import do_create_red_packet, red_packet_detail
from qunyun.core.db import unit_of_work
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0, group_with_members
from tests.activation.workers import buy_many, grab_many, join_many

WORKERS = 4


@pytest.fixture(params=["sql", "redis"])
def path(request: pytest.FixtureRequest) -> tuple[str | None, str]:
    """Return (Redis URL or None, key prefix) for the workers."""
    if request.param == "sql":
        return None, ""
    hot: RedisHotState = request.getfixturevalue("hot")
    return request.getfixturevalue("redis_url"), hot.prefix


@pytest.fixture(params=["threads", "processes"])
def run(request: pytest.FixtureRequest) -> Callable[..., list[Any]]:
    """Return a runner of one function per worker, in threads or in spawned processes."""

    def runner(function: Callable[..., list[Any]], arguments: list[tuple[Any, ...]]) -> list[Any]:
        executor: Executor
        if request.param == "threads":
            executor = ThreadPoolExecutor(WORKERS)
        else:
            executor = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"))
        with executor:
            futures = [executor.submit(function, *argument) for argument in arguments]
            return [outcome for future in futures for outcome in future.result()]

    runner.__name__ = request.param
    return runner


def _rotations(members: list[str]) -> list[list[str]]:
    step = len(members) // WORKERS
    return [members[index * step :] + members[: index * step] for index in range(WORKERS)]


def test_a_crowd_grabs_each_share_once_and_exactly_the_total(
    engine: Engine,
    tenant: Tenant,
    path: tuple[str | None, str],
    run: Callable[..., list[Any]],
) -> None:
    # given 40 members and a packet of ¥88.88 in 25 shares
    members = group_with_members(engine, tenant, 40)
    with unit_of_work(engine) as session:
        packet = do_create_red_packet(
            session, tenant, "G1", 8888, 25, when=T0, rng=random.Random(3)
        )
    url = engine.url.render_as_string(hide_password=False)

    # when four workers each try every member (twice in threads)
    times = 2 if run.__name__ == "threads" else 1
    outcomes = run(
        grab_many,
        [(url, *path, tenant.id, packet.id, rotation, times) for rotation in _rotations(members)],
    )

    # then 25 distinct members got the 25 positions, summing to the total; the rest were refused
    won = [outcome for outcome in outcomes if outcome[1] == "ok"]
    assert len(won) == 25
    assert len({member for member, *_ in won}) == 25
    assert sorted(position for _, _, position, _ in won) == list(range(1, 26))
    assert sum(amount for *_, amount in won) == 8888
    assert {code for _, code, _, _ in outcomes} - {"ok"} <= {"already_grabbed", "empty"}
    assert len(outcomes) == WORKERS * times * 40
    with unit_of_work(engine) as session:
        view = red_packet_detail(session, tenant, packet.id)
    assert (view.remaining_fen, view.status) == (0, PacketStatus.FINISHED)
    assert sorted((g.member_id, g.position, g.amount_fen) for g in view.grabs) == sorted(
        (member, position, amount) for member, _, position, amount in won
    )


def test_a_crowd_never_oversells_a_flash_sale_nor_passes_the_limit(
    engine: Engine,
    tenant: Tenant,
    path: tuple[str | None, str],
    run: Callable[..., list[Any]],
) -> None:
    # given 20 members and a sale of 30 units, at most 2 per member
    members = group_with_members(engine, tenant, 20)
    with unit_of_work(engine) as session:
        sale = do_create_flash_sale(
            session,
            tenant,
            "G1",
            "SKU1",
            "清泉矿泉水 24 瓶",
            1990,
            30,
            2,
            T0,
            T0 + timedelta(hours=1),
        )
    url = engine.url.render_as_string(hide_password=False)

    # when four workers each order 1 unit per member, twice (160 attempts for 30 units)
    outcomes = run(
        buy_many,
        [(url, *path, tenant.id, sale.id, rotation, 1, 2) for rotation in _rotations(members)],
    )

    # then exactly the stock is sold, one order per success, nobody past the limit
    won = [outcome for outcome in outcomes if outcome[1] == "ok"]
    per_member = Counter(member for member, *_ in won)
    assert len(won) == 30
    assert max(per_member.values()) == 2
    assert {code for _, code, _ in outcomes} - {"ok"} <= {"sold_out", "limit_exceeded"}
    with unit_of_work(engine) as session:
        view = flash_sale_detail(session, tenant, sale.id)
        bought = units_bought(session, sale.id)
    assert (view.stock, view.sold, len(view.orders)) == (30, 30, 30)
    assert sorted(order.id for order in view.orders) == sorted(order for *_, order in won)
    assert {member: units for (_, member), units in bought.items()} == dict(per_member)
    assert _order_events(engine, tenant) == sorted(
        (f"flash_sale:{order}", member, 1990) for member, _, order in won
    )


def _order_events(engine: Engine, tenant: Tenant) -> list[tuple[str | None, str, int | None]]:
    """Return the ``order`` events waiting for the lake as (order id, member, amount)."""
    with unit_of_work(engine) as session:
        events = pending_events(session, tenant)
    return sorted(
        (event.order_id, event.member_id, event.amount_fen)
        for event in events
        if event.kind == "order"
    )


def _hot_of(path: tuple[str | None, str]) -> RedisHotState | None:
    redis_url, prefix = path
    return None if redis_url is None else RedisHotState.from_url(redis_url, prefix)


def test_a_crowd_never_overfills_a_team_nor_oversells_a_group_buy(
    engine: Engine,
    tenant: Tenant,
    path: tuple[str | None, str],
    run: Callable[..., list[Any]],
) -> None:
    # given a deal of 10 units in teams of 3, and four teams opened (4 units reserved)
    members = group_with_members(engine, tenant, 30)
    hot = _hot_of(path)
    with unit_of_work(engine) as session:
        deal = do_create_group_buy(
            session, tenant, "G1", "SKU3", "三人团 土鸡蛋", 1990, 3, 10, 30, T0,
            T0 + timedelta(days=1),
        ).id  # fmt: skip
    teams = []
    for leader in members[:4]:
        with unit_of_work(engine) as session:
            teams.append(do_open_team(session, tenant, deal, STORE, leader, when=T0, hot=hot).id)
    url = engine.url.render_as_string(hide_password=False)

    # when four workers seat each of the 26 others in the first team that takes them
    # (8 seats are left, but only 6 units)
    outcomes = run(
        join_many,
        [
            (url, *path, tenant.id, teams[index:] + teams[:index], rotation)
            for index, rotation in enumerate(_rotations(members[4:]))
        ],
    )

    # then exactly the 6 free units were taken, each member in one team, no team past 3
    seated = [(member, team) for member, team, code in outcomes if code == "ok"]
    assert len(seated) == 6
    assert len({member for member, _ in seated}) == 6
    assert {code for *_, code in outcomes} - {"ok"} <= {"already_joined", "sold_out", "ended"}
    with unit_of_work(engine) as session:
        view = group_buy_detail(session, tenant, deal, hot)
    in_teams = Counter(team.id for team in view.teams for _ in team.members)
    complete = [team for team in view.teams if team.status is TeamStatus.COMPLETE]
    still_open = [team for team in view.teams if team.status is TeamStatus.OPEN]
    assert sorted((m, team.id) for team in view.teams for _, m in team.members) == sorted(
        [(leader, team) for leader, team in zip(members[:4], teams, strict=True)] + seated
    )
    assert all(team.joined == in_teams[team.id] == len(team.members) for team in view.teams)
    assert all(team.joined == 3 for team in complete)
    assert all(team.joined < 3 for team in still_open)
    assert len(complete) + len(still_open) == 4
    assert (view.sold, view.reserved) == (3 * len(complete), sum(t.joined for t in still_open))
    assert view.sold + view.reserved == 10

    # and when the open teams pass their deadline, they are cancelled and their units freed
    later = T0 + timedelta(minutes=31)
    with unit_of_work(engine) as session:
        cancelled = do_cancel_expired_teams(session, tenant, when=later, hot=hot)
    with unit_of_work(engine) as session:
        reopened = do_open_team(session, tenant, deal, STORE, members[-1], when=later, hot=hot)
        after = group_buy_detail(session, tenant, deal, hot)
    assert cancelled == sorted(team.id for team in still_open)
    assert (after.sold, after.reserved) == (3 * len(complete), 1)
    assert [team.id for team in after.teams if team.status is TeamStatus.OPEN] == [reopened.id]
    assert sum(len(team.members) for team in after.teams) == 3 * len(complete) + 1
    assert _order_events(engine, tenant) == sorted(
        (f"group_buy:{team.id}:store:{member}", member, 1990)
        for team in complete
        for _, member in team.members
    )
