from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from qunyun.activation.draws import (
    AlreadyDrawn,
    AlreadyEntered,
    EntriesOpen,
    check_verification,
    do_close_draw,
    do_enter_draw,
    do_open_draw,
    do_reveal_draw,
    do_reveal_due_draws,
    draw_detail,
    draw_order,
    draw_winners,
    public_draw_verification,
    seed_commitment,
    verification_record,
)
from qunyun.activation.errors import ActivationConflict, Ended, NotStarted
from qunyun.core.db import engine_for, unit_of_work
from qunyun.core.errors import InvalidInput, NotFound
from qunyun.groups.actions import do_leave
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0, group_with_members
from tests.conftest import Cli

SEED = "0123456789abcdef" * 4
TICKETS = ["a1b2c3d4e5f6", "000000000001", "ffffffffffff", "5a5a5a5a5a5a", "123456abcdef"]
CLOSES = T0 + timedelta(hours=2)
PRIZES = ["一等奖：矿泉水一年", "二等奖：茶礼盒", "三等奖：优惠券"]


def test_the_winners_of_a_known_seed_are_exactly_these() -> None:
    # the figures below were computed with `echo -n "$seed:$ticket" | sha256sum | sort`
    assert seed_commitment(SEED) == (
        "a8ae6e6ee929abea3afcfc5258c8ccd6f85273e0d4626d26c7279f3250f77c8e"
    )
    assert draw_order(SEED, TICKETS) == [
        "ffffffffffff", "123456abcdef", "a1b2c3d4e5f6", "000000000001", "5a5a5a5a5a5a",
    ]  # fmt: skip
    assert draw_winners(SEED, TICKETS, 3) == ["ffffffffffff", "123456abcdef", "a1b2c3d4e5f6"]
    assert draw_winners(SEED, TICKETS, 9) == draw_order(SEED, TICKETS)


@given(
    seed=st.text("0123456789abcdef", min_size=64, max_size=64),
    tickets=st.lists(st.text("0123456789abcdef", min_size=12, max_size=12), unique=True),
    winners=st.integers(1, 20),
    data=st.data(),
)
def test_the_result_is_a_pure_function_of_seed_and_entries(
    seed: str, tickets: list[str], winners: int, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(tickets))

    chosen = draw_winners(seed, tickets, winners)

    assert draw_winners(seed, shuffled, winners) == chosen
    assert draw_winners(seed, tickets + tickets[:3], winners) == chosen
    assert len(set(chosen)) == len(chosen) == min(winners, len(tickets))
    assert set(chosen) <= set(tickets)
    # a larger draw starts with the smaller one's winners
    assert draw_winners(seed, tickets, winners + 1)[:winners] == chosen


def _draw(engine: Engine, tenant: Tenant, **options: object) -> int:
    with unit_of_work(engine) as session:
        draw = do_open_draw(
            session, tenant, "G1", "周年庆抽奖", CLOSES, when=T0,
            **{"prizes": PRIZES, "seed": SEED, **options},  # type: ignore[arg-type]
        )  # fmt: skip
        return draw.id


def _enter(engine: Engine, tenant: Tenant, draw_id: int, member: str, minutes: int = 1) -> str:
    with unit_of_work(engine) as session:
        return do_enter_draw(
            session, tenant, draw_id, STORE, member, when=T0 + timedelta(minutes=minutes)
        )


def test_members_enter_once_the_seed_stays_secret_until_the_reveal_and_then_verifies(
    engine: Engine, tenant: Tenant
) -> None:
    # given a draw with three prizes and five members who enter
    members = group_with_members(engine, tenant, 6)
    draw_id = _draw(engine, tenant)
    tickets = {member: _enter(engine, tenant, draw_id, member) for member in members[:5]}

    # then before the reveal only the hash is public, and a second entry is refused
    with unit_of_work(engine) as session:
        before = public_draw_verification(session, draw_id, when=T0 + timedelta(minutes=5))
    assert (before.status, before.seed, before.seed_hash) == ("open", None, seed_commitment(SEED))
    assert before.tickets == sorted(tickets.values())
    assert before.results == []
    with pytest.raises(AlreadyEntered, match=f"^S001 已参加抽奖 {draw_id}$"):
        _enter(engine, tenant, draw_id, "S001", minutes=2)
    with (
        pytest.raises(EntriesOpen, match=r"报名尚未截止（2026-03-02 12:00 截止），不能开奖$"),
        unit_of_work(engine) as session,
    ):
        do_reveal_draw(session, tenant, draw_id, when=T0 + timedelta(minutes=5))

    # when the operator closes entries early and reveals
    with unit_of_work(engine) as session:
        do_close_draw(session, tenant, draw_id, when=T0 + timedelta(minutes=30))
    with pytest.raises(Ended, match=f"^抽奖 {draw_id} 已截止报名$"):
        _enter(engine, tenant, draw_id, "S006", minutes=31)
    with unit_of_work(engine) as session:
        ranked = do_reveal_draw(session, tenant, draw_id, when=T0 + timedelta(minutes=31))
        after = public_draw_verification(session, draw_id, when=T0 + timedelta(minutes=32))
        detail = draw_detail(session, tenant, draw_id)

    # then three winners, exactly the algorithm's, and the published data verifies
    member_of = {ticket: member for member, ticket in tickets.items()}
    expected = draw_winners(SEED, tickets.values(), 3)
    assert [(rank, member, ticket) for rank, _, member, ticket in ranked] == [
        (rank, member_of[ticket], ticket) for rank, ticket in enumerate(expected, start=1)
    ]
    assert (after.status, after.seed) == ("drawn", SEED)
    assert after.results == [
        (rank, ticket, PRIZES[rank - 1]) for rank, ticket in enumerate(expected, start=1)
    ]
    assert check_verification(after) == []
    assert sorted((e.rank, e.member_id) for e in detail.entries if e.rank is not None) == [
        (rank, member_of[ticket]) for rank, ticket in enumerate(expected, start=1)
    ]
    assert "S001" not in json.dumps(verification_record(after), ensure_ascii=False)
    with pytest.raises(AlreadyDrawn, match=f"^抽奖 {draw_id} 已开奖$"), unit_of_work(engine) as s:
        do_reveal_draw(s, tenant, draw_id, when=T0 + timedelta(minutes=40))


def test_tampering_with_the_seed_tickets_or_winners_is_detected(
    engine: Engine, tenant: Tenant
) -> None:
    members = group_with_members(engine, tenant, 4)
    draw_id = _draw(engine, tenant, prizes=[], winners=2)
    for member in members:
        _enter(engine, tenant, draw_id, member)
    with unit_of_work(engine) as session:
        do_reveal_draw(session, tenant, draw_id, when=CLOSES)
        data = public_draw_verification(session, draw_id, when=CLOSES)
    other_seed = "f" * 64
    loser = next(t for t in data.tickets if t not in {ticket for _, ticket, _ in data.results})

    assert check_verification(data) == []
    assert check_verification(replace(data, seed=other_seed))[0] == (
        "种子的 SHA-256 与开奖前公布的承诺哈希不一致"
    )
    assert check_verification(replace(data, tickets=data.tickets[1:]))[0] == (
        "报名票号列表与其摘要不一致"
    )
    swapped = [(1, loser, "第 1 名"), *data.results[1:]]
    assert check_verification(replace(data, results=swapped)) == [
        f"公布的中奖票号 {[loser, data.results[1][1]]} 与按种子重新计算的 "
        f"{[t for _, t, _ in data.results]} 不一致"
    ]
    assert check_verification(replace(data, seed=None)) == ["尚未开奖：种子还未公布，无法验证"]


def test_only_current_members_enter_within_the_window(engine: Engine, tenant: Tenant) -> None:
    group_with_members(engine, tenant, 3)
    draw_id = _draw(engine, tenant, entries_open_at=T0 + timedelta(minutes=10))
    with unit_of_work(engine) as session:
        do_leave(session, tenant, "G1", STORE, "S003", T0)

    with pytest.raises(NotStarted, match=f"^抽奖 {draw_id} 尚未开始报名$"):
        _enter(engine, tenant, draw_id, "S001", minutes=5)
    with pytest.raises(NotFound, match=f"^没有抽奖 {draw_id}$"):
        _enter(engine, tenant, draw_id, "S003", minutes=15)
    with pytest.raises(NotFound, match=f"^没有抽奖 {draw_id}$"):
        _enter(engine, tenant, draw_id, "S999", minutes=15)
    with pytest.raises(Ended, match=r"已截止报名$"):
        _enter(engine, tenant, draw_id, "S001", minutes=120)
    assert _enter(engine, tenant, draw_id, "S002", minutes=15) != ""


def test_fewer_entrants_than_prizes_all_win_and_no_entrant_means_no_winner(
    engine: Engine, tenant: Tenant
) -> None:
    members = group_with_members(engine, tenant, 2)
    crowded, empty = _draw(engine, tenant), _draw(engine, tenant)
    for member in members:
        _enter(engine, tenant, crowded, member)

    with unit_of_work(engine) as session:
        revealed = do_reveal_due_draws(session, tenant, when=CLOSES)
        again = do_reveal_due_draws(session, tenant, when=CLOSES + timedelta(minutes=1))
        full = public_draw_verification(session, crowded)
        none = public_draw_verification(session, empty)

    assert (revealed, again) == ([crowded, empty], [])
    assert [(rank, prize) for rank, _, prize in full.results] == [(1, PRIZES[0]), (2, PRIZES[1])]
    assert (none.results, none.status, check_verification(none)) == ([], "drawn", [])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prizes": [], "winners": None}, "^prizes / winners：请给出奖品列表或中奖人数$"),
        ({"prizes": ["A"], "winners": 2}, "^winners：中奖人数 2 与奖品数 1 不一致$"),
        ({"prizes": [], "winners": 0}, r"^winners：中奖人数应在 1–1000 之间（收到 0）$"),
        ({"prizes": ["  "]}, "^prizes：奖品名称不能为空"),
        ({"entries_open_at": CLOSES}, "^entries_close_at：报名截止时间应晚于"),
        ({"seed": "XYZ"}, "^seed：种子应为 64 位小写十六进制$"),
    ],
)
def test_a_bad_draw_is_refused_naming_the_field(
    engine: Engine, tenant: Tenant, options: dict[str, object], message: str
) -> None:
    group_with_members(engine, tenant, 1)

    with pytest.raises(InvalidInput, match=message):
        _draw(engine, tenant, **options)


def _enter_all(url: str, tenant_id: int, draw_id: int, members: list[str]) -> list[tuple[str, str]]:
    engine = engine_for(url)
    outcomes = []
    for member in members:
        try:
            with unit_of_work(engine) as session:
                tenant = session.get_one(Tenant, tenant_id)
                do_enter_draw(session, tenant, draw_id, STORE, member, when=T0)
            outcomes.append((member, "ok"))
        except ActivationConflict as refused:
            outcomes.append((member, refused.code))
    return outcomes


def test_a_crowd_of_threads_enters_each_member_exactly_once(engine: Engine, tenant: Tenant) -> None:
    # given 40 members and a draw
    members = group_with_members(engine, tenant, 40)
    draw_id = _draw(engine, tenant)
    url = engine.url.render_as_string(hide_password=False)
    rotations = [members[index * 10 :] + members[: index * 10] for index in range(4)]

    # when four threads each try every member twice, in different orders
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(_enter_all, url, tenant.id, draw_id, rotation * 2) for rotation in rotations
        ]
        outcomes = [outcome for future in futures for outcome in future.result()]

    # then each member entered exactly once and every other attempt was refused as a repeat
    assert Counter(member for member, result in outcomes if result == "ok") == Counter(members)
    assert Counter(result for _, result in outcomes) == {"ok": 40, "already_entered": 280}
    with unit_of_work(engine) as session:
        detail = draw_detail(session, tenant, draw_id)
    assert sorted(entry.member_id for entry in detail.entries) == members
    assert len({entry.ticket for entry in detail.entries}) == 40


def test_the_commands_open_close_reveal_show_and_verify_a_draw(
    cli: Cli, engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given a draw opened from the command line, with two members entered
    members = group_with_members(engine, tenant, 3)
    opened = cli("draw", "open", "--group", "G1", "--title", "周年庆抽奖",
                 "--prize", "茶礼盒", "--prize", "优惠券", "--minutes", "60")  # fmt: skip
    draw_id = int(opened.output.split("抽奖 #", 1)[1].split("（", 1)[0])
    with unit_of_work(engine) as session:
        for member in members[:2]:
            do_enter_draw(session, tenant, draw_id, STORE, member)
        commitment = public_draw_verification(session, draw_id).seed_hash
    early = cli("draw", "verify", str(draw_id), expect=1)

    # when the operator closes it (which reveals the seed) and anyone verifies
    closed = cli("draw", "close", str(draw_id))
    shown = cli("draw", "show", str(draw_id))
    verified = cli("draw", "verify", str(draw_id))
    data = tmp_path / "draw.json"
    cli("draw", "verify", str(draw_id), "--save", data)
    record = json.loads(data.read_text(encoding="utf-8"))
    record["seed"] = "0" * 64
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(record), encoding="utf-8")
    from_file = cli("draw", "verify", "--file", data)
    bad = cli("draw", "verify", "--file", tampered, expect=1)

    # then the hash was shown when it opened and the results verify; a changed seed does not
    assert f"承诺哈希 {commitment}" in opened.output
    assert "尚未开奖" in early.output
    assert "已开奖" in closed.output
    assert "茶礼盒" in closed.output
    assert all(member in shown.output for member in members[:2])
    assert "验证通过" in verified.output
    assert "验证通过" in from_file.output
    assert "种子的 SHA-256 与开奖前公布的承诺哈希不一致" in bad.output
    # and the README's few lines of Python accept the saved data and refuse the tampered one
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("To check a draw by hand:", 1)[1].split("```python", 1)[1]
    snippet = snippet.split("```", 1)[0]
    exec(snippet.replace('"draw.json"', repr(str(data))), {})
    with pytest.raises(AssertionError):
        exec(snippet.replace('"draw.json"', repr(str(tampered))), {})
    assert cli("draw", "verify", "--file", tmp_path / "nothing.json", expect=1).output.startswith(
        "错误"
    )
