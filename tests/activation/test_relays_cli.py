"""``qunyun relay …``: a 红包接龙 started, shown, sent round by round and stopped from the CLI."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select

from qunyun.activation.models import RedPacketShare
from qunyun.activation.redpackets import budget_month, do_grab_red_packet
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.core.money import format_yuan
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, group_with_members
from tests.conftest import Cli


def _grab_all(engine: Engine, tenant: Tenant, packet_id: int, members: list[str]) -> None:
    for member in members:
        with unit_of_work(engine) as session:
            do_grab_red_packet(session, tenant, packet_id, STORE, member)


def _best_luck(engine: Engine, packet_id: int) -> tuple[str, int]:
    with unit_of_work(engine) as session:
        share = session.scalars(
            select(RedPacketShare).where(
                RedPacketShare.packet_id == packet_id, RedPacketShare.is_best_luck
            )
        ).one()
        assert share.member_id is not None
        return share.member_id, share.amount_fen


def test_a_relay_is_started_sent_round_by_round_and_stopped(
    cli: Cli, engine: Engine, tenant: Tenant
) -> None:
    # given three members and an all-day rule with ¥20 a month
    members = group_with_members(engine, tenant, 3)
    cli("redpacket", "rule", "set", "--budget-fen", "2000", "--window", "00:00-00:00",
        "--min-total-fen", "1")  # fmt: skip

    # when a relay of 3 rounds of ¥3.01 in 2 shares starts, asks too early, round 1 is grabbed
    started = cli("relay", "start", "--group", "G1", "--total-fen", "301", "--count", "2",
                  "--rounds", "3", "--sender", "R0001")  # fmt: skip
    relay = str(json.loads(cli("relay", "list", "--json").stdout)[0]["id"])
    first = json.loads(cli("relay", "show", relay, "--json").stdout)["packets"][0]["packet_id"]
    early = cli("relay", "next", relay, expect=1)
    stop_early = cli("relay", "stop", relay, expect=1)
    _grab_all(engine, tenant, first, members[:2])
    asked = json.loads(cli("relay", "show", relay, "--json").stdout)
    table = cli("relay", "show", relay)
    sent = cli("relay", "next", relay)
    second = json.loads(cli("relay", "show", relay, "--json").stdout)["packets"][1]["packet_id"]
    _grab_all(engine, tenant, second, [members[2], members[0]])
    stopped = cli("relay", "stop", relay)
    again = cli("relay", "stop", relay, expect=1)
    listed = json.loads(cli("relay", "list", "--json").stdout)
    budget = json.loads(cli("redpacket", "budget", "--group", "G1", "--json").stdout)

    # then round 1 went out at once, all three rounds reserved
    assert started.output == (
        f"已开始红包接龙 #{relay}：社群 G1 · 每轮 ¥3.01 · 2 个 · 3 轮"
        f"（预留 ¥9.03，本月预算剩余 ¥10.97）\n第 1 轮红包 #{first} 已发出\n"
    )
    # and nothing moves on while a round is being grabbed
    assert early.stderr == f"错误：红包接龙 {relay} 第 1 轮还没抢完\n"
    assert stop_early.stderr == (
        f"错误：红包接龙 {relay} 当前红包 {first} 还在抢，请等它抢完或过期\n"
    )
    # and once grabbed, the best-luck grabber (the larger share: 301 fen never split evenly)
    # is asked, and the next round goes out as theirs
    best, best_fen = _best_luck(engine, first)
    assert best in members[:2]
    assert asked["next_sender"] == {"member_kind": "store", "member_id": best}
    assert asked["packets"] == [
        {
            "round": 1, "packet_id": first, "sender_id": "R0001", "grabbed_count": 2,
            "grabbed_fen": 301, "status": "finished", "best_luck_id": best,
            "best_luck_fen": best_fen,
        }
    ]  # fmt: skip
    assert best_fen > 301 - best_fen
    assert "下一轮发出人：store:" + best in table.output
    assert f"{best} ¥{format_yuan(best_fen)}" in table.output
    assert sent.output == (f"红包接龙 #{relay} 第 2/3 轮红包 #{second} 已发出（代 {best} 发出）\n")
    # and stopping after round 2 returns the unsent third round, and a stopped relay stays so
    assert stopped.output == f"红包接龙 #{relay}：已停止，已退回预算 ¥3.01\n"
    assert again.stderr == f"错误：红包接龙 {relay} 已结束\n"
    assert [(r["id"], r["rounds_sent"], r["status"], r["refunded_fen"]) for r in listed] == [
        (int(relay), 2, "stopped", 301)
    ]
    assert (budget["spent_fen"], budget["remaining_fen"]) == (602, 1398)


def test_relay_commands_name_what_is_wrong(cli: Cli, engine: Engine, tenant: Tenant) -> None:
    group_with_members(engine, tenant, 1)
    cli("redpacket", "rule", "set", "--window", "00:00-00:00", "--budget-fen", "500")

    unknown = cli("relay", "show", "9", expect=1)
    no_group = cli("relay", "start", "--group", "G9", "--total-fen", "100", "--count", "1",
                   "--rounds", "2", expect=1)  # fmt: skip
    too_dear = cli("relay", "start", "--group", "G1", "--total-fen", "200", "--count", "1",
                   "--rounds", "3", expect=1)  # fmt: skip
    no_rounds = cli("relay", "start", "--group", "G1", "--total-fen", "100", "--count", "1",
                    "--rounds", "0", expect=2)  # fmt: skip
    listed = cli("relay", "list", "--json")

    assert unknown.stderr == "错误：没有红包接龙 9\n"
    assert no_group.stderr == "错误：没有社群 G9\n"
    month = budget_month(utcnow(), tenant.timezone)
    assert too_dear.stderr == f"错误：社群 G1 {month} 红包预算不足：剩余 ¥5.00，需要 ¥6.00\n"
    assert "Invalid value for '--rounds'" in no_rounds.stderr
    assert json.loads(listed.stdout) == []
