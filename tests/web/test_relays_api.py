"""The 红包接龙 relay API through an HTTP client, with SQL or Redis hot state.

Staff start a relay, members grab its rounds, staff send the next round on behalf of the best
luck and stop it; refusals as ``{"error": code}``, the caller's scope, bad bodies.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from qunyun.activation.hot import RedisHotState
from qunyun.web.app import create_app

from ..conftest import Cli
from .activation_helpers import allow_packets_all_day, member_headers, stores_of_group
from .conftest import KEY, bearer, store_groups_of


@pytest.fixture(params=["sql", "redis"])
def app(request: pytest.FixtureRequest, engine: Engine, demo: Cli) -> FastAPI:
    """Return the app with hot counters in SQL, then in Redis."""
    hot: RedisHotState | None = None
    if request.param == "redis":
        hot = request.getfixturevalue("hot")
    allow_packets_all_day(engine, budget_fen=1_000_000)
    return create_app(engine, KEY, hot)


def test_a_relay_runs_round_by_round_through_the_api(client: TestClient, engine: Engine) -> None:
    # given HQ and three members of a store group (¥10,000 a month)
    hq = bearer(client, "hq")
    group = store_groups_of(engine, "R0001")[0]
    members = stores_of_group(engine, group)[:3]
    heads = {member: member_headers(client, hq, member) for member in members}
    body = {"group_id": group, "total_fen": 301, "count": 2, "rounds": 3}

    # when HQ starts a relay of 3 rounds of ¥3.01 in 2 shares, asks too early, round 1 is
    # grabbed, HQ sends round 2 as the best luck, round 2 is grabbed, HQ stops the relay
    started = client.post("/api/v1/relays", json=body, headers=hq)
    assert started.status_code == 201, started.text
    relay, first = started.json()["id"], started.json()["packet_id"]
    early = client.post(f"/api/v1/relays/{relay}/next", headers=hq)
    stop_early = client.post(f"/api/v1/relays/{relay}/stop", headers=hq)
    grabs = [
        client.post(f"/api/v1/red-packets/{first}/grab", headers=heads[m]).json()
        for m in members[:2]
    ]
    asked = client.get(f"/api/v1/relays/{relay}", headers=hq)
    sent = client.post(f"/api/v1/relays/{relay}/next", headers=hq)
    twice = client.post(f"/api/v1/relays/{relay}/next", headers=hq)
    second = sent.json()["packets"][1]["packet_id"]
    for member in (members[2], members[0]):
        client.post(f"/api/v1/red-packets/{second}/grab", headers=heads[member])
    stopped = client.post(f"/api/v1/relays/{relay}/stop", headers=hq)
    after_stop = client.post(f"/api/v1/relays/{relay}/next", headers=hq)

    # then round 1 went out at once, nothing moved on while it was grabbed
    assert started.status_code == 201
    assert (early.status_code, early.json()) == (
        409, {"error": "round_open", "detail": f"红包接龙 {relay} 第 1 轮还没抢完"},
    )  # fmt: skip
    assert (stop_early.status_code, stop_early.json()) == (
        409,
        {
            "error": "round_open",
            "detail": f"红包接龙 {relay} 当前红包 {first} 还在抢，请等它抢完或过期",
        },
    )
    # and the larger share of round 1 (301 fen never splits evenly) is the best luck, asked next
    best_fen = max(grab["amount_fen"] for grab in grabs)
    best = members[[grab["amount_fen"] for grab in grabs].index(best_fen)]
    assert sum(grab["amount_fen"] for grab in grabs) == 301
    view = asked.json()
    assert (view["status"], view["rounds_sent"], view["next_sender"]) == (
        "running", 1, {"member_kind": "store", "member_id": best},
    )  # fmt: skip
    assert [(p["round"], p["packet_id"], p["sender_id"], p["status"]) for p in view["packets"]] == [
        (1, first, "hq", "finished")
    ]
    assert (view["packets"][0]["best_luck_id"], view["packets"][0]["best_luck_fen"]) == (
        best, best_fen,
    )  # fmt: skip
    # and round 2 went out as the best luck's, once
    assert sent.status_code == 201
    assert (sent.json()["rounds_sent"], sent.json()["next_sender"]) == (2, None)
    assert [(p["round"], p["sender_id"], p["status"]) for p in sent.json()["packets"]] == [
        (1, "hq", "finished"), (2, best, "open"),
    ]  # fmt: skip
    assert (twice.status_code, twice.json()["error"]) == (409, "round_open")
    # and the stop returned the unsent third round; a stopped relay sends nothing more
    assert stopped.status_code == 200
    assert (stopped.json()["status"], stopped.json()["refunded_fen"]) == ("stopped", 301)
    assert [p["status"] for p in stopped.json()["packets"]] == ["finished", "finished"]
    assert (after_stop.status_code, after_stop.json()) == (
        409, {"error": "ended", "detail": f"红包接龙 {relay} 已结束"},
    )  # fmt: skip


def test_relays_keep_to_the_scope_and_name_what_is_wrong(
    client: TestClient, engine: Engine
) -> None:
    hq, rep, analyst = bearer(client, "hq"), bearer(client, "rep"), bearer(client, "analyst")
    group = store_groups_of(engine, "R0001")[0]
    other_group = store_groups_of(engine, "R0002")[0]
    body = {"group_id": other_group, "total_fen": 300, "count": 3, "rounds": 2}
    relay = client.post("/api/v1/relays", json=body, headers=hq).json()["id"]

    foreign_start = client.post("/api/v1/relays", json=body, headers=rep)
    foreign_read = client.get(f"/api/v1/relays/{relay}", headers=rep)
    foreign_stop = client.post(f"/api/v1/relays/{relay}/stop", headers=rep)
    by_analyst = client.post(f"/api/v1/relays/{relay}/next", headers=analyst)
    unknown = client.get("/api/v1/relays/999", headers=hq)
    no_rounds = client.post("/api/v1/relays", json=body | {"rounds": 0}, headers=hq)
    too_large = client.post(
        "/api/v1/relays", json=body | {"group_id": group, "total_fen": 30000}, headers=hq
    )
    too_dear = client.post(
        "/api/v1/relays",
        json=body | {"group_id": group, "total_fen": 20000, "rounds": 60},
        headers=hq,
    )
    member = member_headers(client, hq, stores_of_group(engine, group)[0])
    as_member = client.get(f"/api/v1/relays/{relay}", headers=member)

    assert (foreign_start.status_code, foreign_start.json()) == (
        404, {"detail": f"没有社群 {other_group}"},
    )  # fmt: skip
    assert (foreign_read.status_code, foreign_read.json()) == (
        404, {"detail": f"没有红包接龙 {relay}"},
    )  # fmt: skip
    assert foreign_stop.status_code == 404
    assert by_analyst.status_code == 403
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "没有红包接龙 999"})
    assert no_rounds.status_code == 422
    assert no_rounds.json()["detail"].startswith("请求参数有误：rounds:")
    assert (too_large.status_code, too_large.json()) == (
        400, {"detail": "红包金额应在 ¥0.01–¥200.00 之间（收到 ¥300.00）"},
    )  # fmt: skip
    assert (too_dear.status_code, too_dear.json()["error"]) == (409, "budget_exceeded")
    assert as_member.status_code == 401


def test_the_best_luck_sends_the_next_round_with_a_member_token(
    client: TestClient, engine: Engine
) -> None:
    # given a relay of 2 rounds of ¥3.01 in 2 shares, three members and an outsider
    hq = bearer(client, "hq")
    group = store_groups_of(engine, "R0001")[0]
    members = stores_of_group(engine, group)[:3]
    outsider = stores_of_group(engine, store_groups_of(engine, "R0002")[0])[0]
    heads = {m: member_headers(client, hq, m) for m in [*members, outsider]}
    body = {"group_id": group, "total_fen": 301, "count": 2, "rounds": 2}
    started = client.post("/api/v1/relays", json=body, headers=hq).json()
    relay, first = started["id"], started["packet_id"]

    # when a member asks too early, round 1 is grabbed, then the others and the best luck ask
    early = client.post(f"/api/v1/relays/{relay}/rounds", headers=heads[members[0]])
    grabs = [
        client.post(f"/api/v1/red-packets/{first}/grab", headers=heads[m]).json()
        for m in members[:2]
    ]
    best = members[[g["amount_fen"] for g in grabs].index(max(g["amount_fen"] for g in grabs))]
    other = next(m for m in members if m != best)
    not_asked = client.post(f"/api/v1/relays/{relay}/rounds", headers=heads[other])
    from_outside = client.post(f"/api/v1/relays/{relay}/rounds", headers=heads[outsider])
    as_staff = client.post(f"/api/v1/relays/{relay}/rounds", headers=hq)
    sent = client.post(f"/api/v1/relays/{relay}/rounds", headers=heads[best])
    twice = client.post(f"/api/v1/relays/{relay}/rounds", headers=heads[best])
    view = client.get(f"/api/v1/relays/{relay}", headers=hq).json()

    # then only the best luck sent round 2, once, as its sender
    assert (early.status_code, early.json()) == (
        409, {"error": "round_open", "detail": f"红包接龙 {relay} 第 1 轮还没抢完"},
    )  # fmt: skip
    assert (not_asked.status_code, not_asked.json()) == (
        409,
        {"error": "not_asked", "detail": f"红包接龙 {relay} 第 2 轮应由上一轮手气最佳者发出"},
    )
    assert (from_outside.status_code, from_outside.json()) == (
        404, {"detail": f"没有红包接龙 {relay}"},
    )  # fmt: skip
    assert as_staff.status_code == 401
    second = view["packets"][1]["packet_id"]
    assert (sent.status_code, sent.json()) == (201, {"id": relay, "packet_id": second})
    assert (twice.status_code, twice.json()["error"]) == (409, "round_open")
    assert (view["rounds_sent"], view["next_sender"]) == (2, None)
    assert [(p["round"], p["sender_id"], p["status"]) for p in view["packets"]] == [
        (1, "hq", "finished"), (2, best, "open"),
    ]  # fmt: skip
