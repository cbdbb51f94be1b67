"""The scheduled work: what falls due is done once, by the functions and by a real worker."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from qunyun.activation.draws import do_enter_draw, do_open_draw, public_draw_verification
from qunyun.activation.groupbuys import (
    do_create_group_buy,
    do_join_team,
    do_open_team,
    group_buy_detail,
)
from qunyun.activation.models import ALL_GROUPS, TeamStatus
from qunyun.activation.orderlists import ListItem, do_add_line, do_open_order_list
from qunyun.activation.redpackets import (
    DEFAULT_RULE,
    Rule,
    budget_left,
    do_create_red_packet,
    do_grab_red_packet,
    do_set_rule,
    red_packet_detail,
)
from qunyun.core import settings as settings_module
from qunyun.core.db import unit_of_work
from qunyun.jobs import create_jobs, run_due_work
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0, group_with_members
from tests.conftest import Cli

DUE = T0 + timedelta(hours=2)
"""12:00 in Shanghai: the packet (60 minutes) and the team (30) have expired, the draw closed."""


def _due_things(engine: Engine, tenant: Tenant) -> dict[str, int]:
    """Make one of everything that falls due by DUE; return their ids and the budget before."""
    group_with_members(engine, tenant, 4)
    rule = Rule(10_000, 1, DEFAULT_RULE.max_total_fen, 1, 100, "00:00", "00:00", 60, ALL_GROUPS)
    with unit_of_work(engine) as session:
        do_set_rule(session, tenant, rule)
        packet = do_create_red_packet(session, tenant, "G1", 1000, 4, when=T0, rng=random.Random(1))
    with unit_of_work(engine) as session:
        grab = do_grab_red_packet(session, tenant, packet.id, STORE, "S002", when=T0)
        deal = do_create_group_buy(
            session, tenant, "G1", "SKU", "拼团", 990, 3, 9, 30, T0, T0 + timedelta(days=1)
        )
        team = do_open_team(session, tenant, deal.id, STORE, "S001", when=T0)
        do_join_team(session, tenant, team.id, STORE, "S002", when=T0 + timedelta(minutes=1))
        order_list = do_open_order_list(
            session, tenant, "G1", STORE, "S001", [ListItem("EGG30", "鸡蛋", 2990, "WH1")], 500,
            when=T0,
        )  # fmt: skip
        do_add_line(session, tenant, order_list.id, STORE, "S003", "EGG30", 2, when=T0)
        draw = do_open_draw(
            session, tenant, "G1", "抽奖", T0 + timedelta(hours=1), winners=1, when=T0
        )
        do_enter_draw(session, tenant, draw.id, STORE, "S004", when=T0)
        budget = budget_left(session, tenant, "G1", T0)
    return {
        "packet": packet.id,
        "grabbed": grab.amount_fen,
        "deal": deal.id,
        "team": team.id,
        "draw": draw.id,
        "budget": budget,
    }


def test_the_due_work_is_done_once_and_a_second_run_does_nothing(
    engine: Engine, tenant: Tenant
) -> None:
    # given an open packet, a team, today's list and a draw, all due by noon
    made = _due_things(engine, tenant)

    # when the due work runs at noon, twice
    first = run_due_work(DUE)
    second = run_due_work(DUE + timedelta(minutes=1))

    # then the packet's remainder went back, the team was cancelled and released, the noon
    # cutoff was made and the draw revealed — and the second run found nothing to do
    remainder = 1000 - made["grabbed"]
    assert first.expired_packets == {"acme": [(made["packet"], remainder)]}
    assert first.cancelled_teams == {"acme": [made["team"]]}
    assert {key: value for key, value in first.cutoffs["acme"].items() if key != "cutoff_id"} == {
        "cutoff_at": DUE.isoformat(),
        "orders": 1,
        "lines": 1,
    }
    assert first.revealed_draws == {"acme": [made["draw"]]}
    assert (second.expired_packets, second.cancelled_teams) == ({}, {})
    assert (second.cutoffs, second.revealed_draws) == ({}, {})
    with unit_of_work(engine) as session:
        packet = red_packet_detail(session, tenant, made["packet"])
        deal = group_buy_detail(session, tenant, made["deal"])
        assert budget_left(session, tenant, "G1", DUE) == made["budget"] + remainder
        drawn = public_draw_verification(session, made["draw"])
    assert (packet.status.value, packet.remaining_fen) == ("expired", remainder)
    assert (deal.reserved, deal.sold, deal.teams[0].status) == (0, 0, TeamStatus.CANCELLED)
    assert deal.teams[0].members == []
    assert (drawn.status, len(drawn.results)) == ("drawn", 1)


def test_jobs_run_reports_what_it_did_then_nothing(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    made = _due_things(engine, tenant)

    first = cli("jobs", "run", "--at", "2026-03-02 12:00")
    second = cli("jobs", "run", "--at", "2026-03-02 12:01")

    refunded = f"{(1000 - made['grabbed']) / 100:.2f}"
    assert first.output.splitlines()[:2] == [
        f"acme：1 个红包到期，¥{refunded} 退回预算",
        "acme：1 个拼团超时取消，库存已释放",
    ]
    assert first.output.splitlines()[2].endswith("，1 张订单")
    assert first.output.splitlines()[3] == f"acme：1 个抽奖已开奖（{made['draw']}）"
    assert second.output == "没有到期的工作。\n"


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def queue(request: pytest.FixtureRequest, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    """Configure the job queue of each kind: a SQLite file in QUNYUN_HOME, or Redis."""
    if request.param == "redis-queue":
        hot = request.getfixturevalue("hot")
        monkeypatch.setenv("QUNYUN_REDIS_URL", request.getfixturevalue("redis_url"))
        monkeypatch.setenv("QUNYUN_REDIS_PREFIX", hot.prefix)
    settings_module.get_settings.cache_clear()
    return str(request.param)


def test_a_real_worker_runs_an_enqueued_job(
    queue: str, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given the due things and a worker process (no schedule: only what is enqueued)
    made = _due_things(engine, tenant)
    jobs = create_jobs()
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "qunyun"), "jobs", "worker", "--no-schedule"],
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # when a run at noon is enqueued
        result = jobs.due_work(DUE.isoformat())
        report = result.get(blocking=True, timeout=120)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
        if queue == "redis-queue":
            jobs.huey.storage.flush_all()

    # then the worker did it, exactly as a direct call would have
    assert report["expired_packets"] == {"acme": [(made["packet"], 1000 - made["grabbed"])]}
    assert report["cancelled_teams"] == {"acme": [made["team"]]}
    assert report["revealed_draws"] == {"acme": [made["draw"]]}
    assert "定时任务已启动" in (tmp_path / "worker.log").read_text(encoding="utf-8")
    assert run_due_work(DUE).revealed_draws == {}
