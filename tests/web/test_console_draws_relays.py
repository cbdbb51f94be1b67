"""Operators' lucky-draw and 红包接龙 pages through an HTTP client: open, draw, verify; relay."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from qunyun.activation.draws import (
    ALGORITHM,
    draw_winners,
    entries_digest,
    seed_commitment,
)
from qunyun.activation.models import (
    LuckyDraw,
    LuckyDrawPrize,
    RedPacket,
    RedPacketBudget,
    RedPacketRelay,
    RedPacketShare,
    RelayStatus,
)
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.core.money import format_yuan

from .activation_helpers import (
    allow_packets_all_day,
    foreign_activation,
    member_headers,
    stores_of_group,
)
from .conftest import bearer, console_login, store_groups_of
from .test_console_activation import (
    _cells,
    _fields,
    _headers,
    _login,
    _pairs,
    _text,
    _untagged,
)

ZONE = ZoneInfo("Asia/Shanghai")
LOCAL = "%Y-%m-%dT%H:%M"


def _closes(minutes: int = 60) -> str:
    return (utcnow().astimezone(ZONE) + timedelta(minutes=minutes)).strftime(LOCAL)


def _draw_rows(engine: Engine, group: str) -> list[tuple[str, int]]:
    with unit_of_work(engine) as session:
        found = session.scalars(
            select(LuckyDraw).where(LuckyDraw.group_id == group).order_by(LuckyDraw.id)
        )
        return [(draw.title, draw.winners) for draw in found]


def _enter(client: TestClient, draw_id: int, members: list[str]) -> list[str]:
    hq = bearer(client, "hq")
    tickets = []
    for member in members:
        entered = client.post(
            f"/api/v1/draws/{draw_id}/entries", headers=member_headers(client, hq, member)
        )
        assert entered.status_code == 201, entered.text
        tickets.append(entered.json()["ticket"])
    return tickets


def test_a_rep_opens_a_draw_members_enter_and_the_draw_verifies(
    client: TestClient, engine: Engine
) -> None:
    # given the rep's store group and three of its stores
    group = store_groups_of(engine, "R0001")[0]
    page = f"/groups/{group}/draws"
    csrf = _login(client, "rep", page)
    opening = client.get(page).text
    form = {
        "csrf_token": csrf,
        "title": "周年庆抽奖",
        "prizes": "茶礼盒\r\n\r\n优惠券\r\n",
        "winners": "",
        "entries_close_at": _closes(),
    }

    # when the rep opens a draw of two prizes and three members enter
    created = client.post(page, data=form, follow_redirects=False)
    draw_id = int(created.headers["location"].rsplit("/", 1)[1])
    members = stores_of_group(engine, group)[:3]
    tickets = _enter(client, draw_id, members)
    before = client.get(f"/draws/{draw_id}").text
    listing = client.get(page).text
    drawn = client.post(f"/draws/{draw_id}/draw", data={"csrf_token": csrf})
    again = client.post(f"/draws/{draw_id}/draw", data={"csrf_token": csrf})

    # then the draw is stored with its prizes by rank
    assert created.status_code == 303
    assert created.headers["location"] == f"/draws/{draw_id}"
    with unit_of_work(engine) as session:
        draw = session.get_one(LuckyDraw, draw_id)
        seed, seed_hash = draw.seed, draw.seed_hash
        prizes = session.scalars(
            select(LuckyDrawPrize.name)
            .where(LuckyDrawPrize.draw_id == draw_id)
            .order_by(LuckyDrawPrize.rank)
        ).all()
        assert (draw.title, draw.winners, list(prizes)) == ("周年庆抽奖", 2, ["茶礼盒", "优惠券"])
    assert [name for name, _, _ in _fields(opening, "new-draw")] == [
        "title", "winners", "entries_close_at",
    ]  # fmt: skip
    assert 'name="prizes" id="draw-prizes"' in opening
    assert 'id="no-draws"' in opening
    # and the listing shows it open with its entries and the committed hash
    assert _headers(listing, "draws") == [
        "#", "标题", "状态", "报名", "中奖", "报名截止", "承诺哈希",
    ]  # fmt: skip
    assert _cells(listing, "draw", draw_id) == [
        str(draw_id), "周年庆抽奖", "报名中", "3", "2", form["entries_close_at"].replace("T", " "),
        seed_hash,
    ]  # fmt: skip
    # and before the draw its page shows the entries and the hash, never the seed
    assert _text(before, "draw-status") == "报名中"
    assert _text(before, "draw-entries") == "3"
    assert _text(before, "draw-closes") == form["entries_close_at"].replace("T", " ")
    assert _text(before, "proof-seed-hash") == seed_hash
    assert _text(before, "proof-seed") == "（开奖后公布）"
    assert _text(before, "verify-after-draw") == "开奖后公布种子，才能验证。"
    assert _text(before, "draw-now") == "截止报名并开奖"
    assert seed not in before
    assert [_cells(before, "entry", member)[:2] for member in members] == [
        [member, ticket] for member, ticket in zip(members, tickets, strict=True)
    ]
    assert _pairs(before)["会员页"] == f"/h5/draws/{draw_id}"
    # and the draw reveals the seed, ranks the winners by the public algorithm and verifies
    winners = draw_winners(seed, tickets, 2)
    holder = dict(zip(tickets, members, strict=True))
    assert _text(drawn.text, "activation-message") == f"已开奖 #{draw_id}"
    assert _text(drawn.text, "draw-status") == "已开奖"
    assert seed_commitment(_text(drawn.text, "proof-seed")) == seed_hash
    assert _text(drawn.text, "proof-algorithm") == ALGORITHM
    assert _text(drawn.text, "proof-tickets") == " ".join(sorted(tickets))
    assert _text(drawn.text, "proof-digest") == entries_digest(tickets)
    assert [_cells(drawn.text, "rank", rank) for rank in (1, 2)] == [
        ["1", winners[0], "茶礼盒", holder[winners[0]]],
        ["2", winners[1], "优惠券", holder[winners[1]]],
    ]
    assert _text(drawn.text, "verified") == (
        "✓ 验证通过：种子与承诺哈希一致，中奖票号就是按种子与报名票号重新计算的结果"
    )
    assert _text(drawn.text, "anyone-can-verify").startswith("任何人都可以用下面的公开数据")
    assert 'id="draw-now"' not in drawn.text
    assert _text(again.text, "activation-error") == f"抽奖 {draw_id} 已开奖"
    assert _cells(client.get(page).text, "draw", draw_id)[2] == "已开奖"


def test_a_bad_draw_names_the_field_and_keeps_what_was_typed(
    client: TestClient, engine: Engine
) -> None:
    group = store_groups_of(engine, "R0001")[0]
    page = f"/groups/{group}/draws"
    csrf = _login(client, "rep", page)
    form = {
        "csrf_token": csrf, "title": "抽奖", "prizes": "茶礼盒", "winners": "",
        "entries_close_at": _closes(),
    }  # fmt: skip

    refused = {
        name: client.post(page, data={**form, **change})
        for name, change in {
            "no_title": {"title": "  "},
            "nothing_to_win": {"prizes": "", "winners": ""},
            "mismatch": {"winners": "2"},
            "words": {"prizes": "", "winners": "三"},
            "too_many": {"prizes": "", "winners": "1001"},
            "past": {"entries_close_at": _closes(-5)},
            "no_time": {"entries_close_at": "明天"},
        }.items()
    }

    assert {name: _text(response.text, "activation-error") for name, response in refused.items()} == {
        "no_title": "title：抽奖标题不能为空，最长 200 字",
        "nothing_to_win": "prizes / winners：请给出奖品列表或中奖人数",
        "mismatch": "winners：中奖人数 2 与奖品数 1 不一致",
        "words": "中奖人数：应为整数（收到 '三'）",
        "too_many": "winners：中奖人数应在 1–1000 之间（收到 1001）",
        "past": "entries_close_at：报名截止时间应晚于现在和报名开始时间",
        "no_time": "报名截止时间：时间应为 YYYY-MM-DDTHH:MM（收到 '明天'）",
    }  # fmt: skip
    assert [value for _, _, value in _fields(refused["mismatch"].text, "new-draw")] == [
        "抽奖", "2", form["entries_close_at"],
    ]  # fmt: skip
    assert ">茶礼盒</textarea>" in refused["mismatch"].text
    assert _draw_rows(engine, group) == []


def _relay(engine: Engine, relay_id: int) -> tuple[RelayStatus, int, str | None, int]:
    with unit_of_work(engine) as session:
        relay = session.get_one(RedPacketRelay, relay_id)
        return relay.status, relay.rounds_sent, relay.next_sender_id, relay.refunded_fen


def _spent(engine: Engine, group: str) -> int:
    with unit_of_work(engine) as session:
        return sum(
            session.scalars(
                select(RedPacketBudget.spent_fen).where(RedPacketBudget.group_id == group)
            )
        )


def _grab_all(client: TestClient, engine: Engine, packet_id: int, members: list[str]) -> None:
    hq = bearer(client, "hq")
    for member in members:
        grabbed = client.post(
            f"/api/v1/red-packets/{packet_id}/grab", headers=member_headers(client, hq, member)
        )
        assert grabbed.status_code == 200, grabbed.text


def _best_luck(engine: Engine, packet_id: int) -> tuple[str, int]:
    """Return the member and amount of a fully grabbed packet's best-luck share."""
    with unit_of_work(engine) as session:
        member, fen = session.execute(
            select(RedPacketShare.member_id, RedPacketShare.amount_fen).where(
                RedPacketShare.packet_id == packet_id, RedPacketShare.is_best_luck
            )
        ).one()
        return str(member), int(fen)


def _started_local(engine: Engine, relay_id: int) -> str:
    with unit_of_work(engine) as session:
        started = session.get_one(RedPacketRelay, relay_id).created_at
        return started.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")


def _round_packets(engine: Engine, relay_id: int) -> list[tuple[int, int, str]]:
    with unit_of_work(engine) as session:
        found = session.scalars(
            select(RedPacket).where(RedPacket.relay_id == relay_id).order_by(RedPacket.id)
        )
        return [(packet.id, packet.relay_round or 0, packet.sender_id) for packet in found]


def test_a_relay_runs_round_by_round_and_stops_with_the_rest_returned(
    client: TestClient, engine: Engine
) -> None:
    # given R0002's store group (nothing spent) with an all-day ¥50 budget
    group = store_groups_of(engine, "R0002")[0]
    allow_packets_all_day(engine, budget_fen=5000)
    page = f"/groups/{group}/relays"
    csrf = _login(client, "supervisor", page)
    opening = client.get(page).text
    form = {"csrf_token": csrf, "total": "5", "count": "2", "rounds": "3"}

    # when a relay of 3 rounds of ¥5 in 2 shares starts and round 1 is grabbed
    started = client.post(page, data=form, follow_redirects=False)
    relay_id = int(started.headers["location"].rsplit("/", 1)[1])
    grabbers = stores_of_group(engine, group)[:2]
    first = _round_packets(engine, relay_id)
    refused_early = client.post(f"/relays/{relay_id}/next", data={"csrf_token": csrf})
    stop_early = client.post(f"/relays/{relay_id}/stop", data={"csrf_token": csrf})
    _grab_all(client, engine, first[0][0], grabbers)
    asked = client.get(f"/relays/{relay_id}").text
    best = _relay(engine, relay_id)[2]
    sent = client.post(f"/relays/{relay_id}/next", data={"csrf_token": csrf})
    rounds = _round_packets(engine, relay_id)
    _grab_all(client, engine, rounds[1][0], grabbers)
    stopped = client.post(f"/relays/{relay_id}/stop", data={"csrf_token": csrf})
    listing = client.get(page).text

    # then the whole relay was reserved from the budget at the start
    assert started.headers["location"] == f"/relays/{relay_id}"
    assert [name for name, _, _ in _fields(opening, "new-relay")] == ["total", "count", "rounds"]
    assert _text(opening, "budget-left") == "¥50.00"
    assert first == [(first[0][0], 1, "supervisor")]
    # and nothing moves on while a round is being grabbed
    assert _text(refused_early.text, "activation-error") == f"红包接龙 {relay_id} 第 1 轮还没抢完"
    assert _text(stop_early.text, "activation-error") == (
        f"红包接龙 {relay_id} 当前红包 {first[0][0]} 还在抢，请等它抢完或过期"
    )
    assert _text(refused_early.text, "relay-asked") == "本轮还在抢"
    # and once round 1 is grabbed its best-luck grabber is asked to send round 2
    best_member, best_fen = _best_luck(engine, first[0][0])
    assert best == best_member
    assert best in grabbers
    assert _text(asked, "relay-asked") == best
    assert _text(asked, "send-next-round") == "代发第 2 轮"
    assert _cells(asked, "round", 1) == [
        "1", f"#{first[0][0]}", "supervisor", "2/2 · ¥5.00", "已抢完",
        f"{best} · ¥{format_yuan(best_fen)}", f"/h5/red-packets/{first[0][0]}",
    ]  # fmt: skip
    # and round 2 goes out as theirs, paid from the reservation
    assert _text(sent.text, "activation-message") == f"已发出下一轮 #{relay_id}"
    assert rounds == [first[0], (rounds[1][0], 2, best)]
    assert _text(sent.text, "relay-rounds-sent") == "2/3"
    # and stopping after round 2 returns the unsent third round to the budget
    assert (
        _text(stopped.text, "activation-message") == f"接龙已停止，未发轮次已退回预算 #{relay_id}"
    )
    assert _text(stopped.text, "relay-status") == "已停止"
    assert _text(stopped.text, "relay-returned") == "¥5.00"
    assert 'id="stop-relay"' not in stopped.text
    assert _relay(engine, relay_id)[0] is RelayStatus.STOPPED
    assert _spent(engine, group) == 1000
    assert _cells(listing, "relay", relay_id) == [
        str(relay_id), "¥5.00 · 2", "2/3", "已停止", "—", _started_local(engine, relay_id),
    ]  # fmt: skip
    assert _text(listing, "budget-left") == "¥40.00"


def test_a_relay_the_budget_cannot_pay_is_refused_with_the_reason(
    client: TestClient, engine: Engine
) -> None:
    group = store_groups_of(engine, "R0002")[0]
    allow_packets_all_day(engine, budget_fen=5000)
    page = f"/groups/{group}/relays"
    csrf = _login(client, "supervisor", page)
    month = utcnow().astimezone(ZONE).strftime("%Y-%m")

    short = client.post(page, data={"csrf_token": csrf, "total": "20", "count": "2", "rounds": "3"})
    no_rounds = client.post(
        page, data={"csrf_token": csrf, "total": "5", "count": "2", "rounds": "0"}
    )
    cents = client.post(
        page, data={"csrf_token": csrf, "total": "5.555", "count": "2", "rounds": "2"}
    )
    shares = client.post(
        page, data={"csrf_token": csrf, "total": "0.01", "count": "2", "rounds": "2"}
    )

    assert _text(short.text, "activation-error") == (
        f"社群 {group} {month} 红包预算不足：剩余 ¥50.00，需要 ¥60.00"
    )
    assert [value for _, _, value in _fields(short.text, "new-relay")] == ["20", "2", "3"]
    assert _text(no_rounds.text, "activation-error") == "接龙轮数至少为 1"
    assert _text(cents.text, "activation-error") == "每轮金额（元）：金额最多两位小数：'5.555'"
    assert _text(shares.text, "activation-error") == "总金额 1 分不够 2 人每人 1 分"
    assert _text(short.text, "budget-left") == "¥50.00"
    with unit_of_work(engine) as session:
        assert session.scalars(select(RedPacketRelay)).all() == []
    assert _spent(engine, group) == 0


def test_draws_and_relays_keep_to_the_scope_and_the_roles(
    client: TestClient, engine: Engine
) -> None:
    # given a draw and a relay in R0002's group, and one of the rep R0001's groups
    other = store_groups_of(engine, "R0002")[0]
    mine = store_groups_of(engine, "R0001")[0]
    foreign = foreign_activation(engine, other)
    draw_id, relay_id = foreign["{draw_id}"], foreign["{relay_id}"]
    csrf = _login(client, "rep", f"/groups/{mine}/draws")
    analyst = TestClient(client.app)
    analyst_csrf = _login(analyst, "analyst", f"/groups/{other}/draws")
    anonymous = TestClient(client.app)

    # when the rep reaches into the other territory and the analyst tries to act
    hidden = [
        client.get(f"/groups/{other}/draws"),
        client.get(f"/groups/{other}/relays"),
        client.get(f"/draws/{draw_id}"),
        client.get(f"/relays/{relay_id}"),
        client.post(f"/groups/{other}/draws", data={"csrf_token": csrf, "title": "x"}),
        client.post(f"/groups/{other}/relays", data={"csrf_token": csrf, "total": "1"}),
        client.post(f"/draws/{draw_id}/draw", data={"csrf_token": csrf}),
        client.post(f"/relays/{relay_id}/stop", data={"csrf_token": csrf}),
        client.post(f"/relays/{relay_id}/next", data={"csrf_token": csrf}),
    ]
    missing = [client.get("/draws/999999"), client.get("/relays/999999")]
    read = [analyst.get(f"/draws/{draw_id}"), analyst.get(f"/relays/{relay_id}")]
    listed = [analyst.get(f"/groups/{other}/draws"), analyst.get(f"/groups/{other}/relays")]
    refused = [
        analyst.post(f"/draws/{draw_id}/draw", data={"csrf_token": analyst_csrf}),
        analyst.post(f"/relays/{relay_id}/stop", data={"csrf_token": analyst_csrf}),
        analyst.post(f"/groups/{other}/draws", data={"csrf_token": analyst_csrf}),
        analyst.post(f"/groups/{other}/relays", data={"csrf_token": analyst_csrf}),
    ]
    forged = [
        client.post(f"/groups/{mine}/draws", data={"title": "x"}),
        client.post(f"/groups/{mine}/relays", data={"total": "1"}),
    ]
    stranger = anonymous.get(f"/draws/{draw_id}", follow_redirects=False)

    # then the other territory's answer as missing ones, the analyst reads only
    assert [response.status_code for response in hidden] == [404] * 9
    assert hidden[2].text == missing[0].text.replace("999999", draw_id)
    assert hidden[3].text == missing[1].text.replace("999999", relay_id)
    alert = re.compile(r'<p class="error" role="alert">([^<]*)</p>')
    made_up = alert.findall(client.get("/groups/SG999999/draws").text)
    assert made_up == ["没有社群 SG999999"]
    assert [alert.findall(hidden[index].text) for index in (0, 1, 4, 5)] == [
        [f"没有社群 {other}"]
    ] * 4
    assert [other in response.text for response in hidden[2:4] + hidden[6:]] == [False] * 5
    assert [response.status_code for response in read + listed] == [200] * 4
    assert 'id="draw-now"' not in read[0].text
    assert 'id="stop-relay"' not in read[1].text
    assert 'id="new-draw"' not in listed[0].text
    assert 'id="new-relay"' not in listed[1].text
    assert [response.status_code for response in refused] == [403] * 4
    assert "只有总部管理员、经理、主管、业务员和群管理员可以发起" in _untagged(refused[0].text)
    assert [response.status_code for response in forged] == [403, 403]
    assert (stranger.status_code, stranger.headers["location"]) == (
        303, f"/login?next=/draws/{draw_id}",
    )  # fmt: skip
    with unit_of_work(engine) as session:
        draw = session.get_one(LuckyDraw, int(draw_id))
        assert draw.drawn_at is None
    assert _relay(engine, int(relay_id))[0] is RelayStatus.RUNNING
    assert _draw_rows(engine, mine) == []


def test_the_group_pages_link_draws_and_relays_and_speak_english(
    client: TestClient, engine: Engine
) -> None:
    group = store_groups_of(engine, "R0001")[0]
    console_login(client, "rep")
    client.get("/lang/en")

    draws = client.get(f"/groups/{group}/draws").text
    relays = client.get(f"/groups/{group}/relays").text
    links = re.findall(r'<a href="([^"]+)" id="to-([a-z-]+)" aria-current="page"', draws)

    assert links == [(f"/groups/{group}/draws", "draws")]
    assert "<h2>New lucky draw</h2>" in draws
    assert "<h2>Start a relay</h2>" in relays
    assert _text(relays, "no-relays") == "No relays yet"
