"""Lucky draws over HTTP: staff open, close, reveal; members enter; anyone verifies; the H5 page."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from qunyun.activation.draws import (
    check_verification,
    draw_winners,
    seed_commitment,
    verification_from_record,
)

from .activation_helpers import draw_body, member_headers, stores_of_group
from .conftest import bearer, store_groups_of


def test_a_draw_is_committed_entered_closed_revealed_and_verifies(
    client: TestClient, engine: Engine
) -> None:
    # given a draw opened by HQ in a store group, and three of its members
    hq = bearer(client, "hq")
    group = store_groups_of(engine, "R0001")[0]
    members = stores_of_group(engine, group)[:3]
    created = client.post("/api/v1/draws", json=draw_body(group), headers=hq)
    draw = created.json()["id"]
    heads = [member_headers(client, hq, member) for member in members]

    # when two members enter (one twice), HQ reveals too early, closes, then reveals
    entered = [client.post(f"/api/v1/draws/{draw}/entries", headers=h) for h in heads[:2]]
    again = client.post(f"/api/v1/draws/{draw}/entries", headers=heads[0])
    before = client.get(f"/api/v1/draws/{draw}/verification").json()
    early = client.post(f"/api/v1/draws/{draw}/reveal", headers=hq)
    closed = client.post(f"/api/v1/draws/{draw}/close", headers=hq)
    late = client.post(f"/api/v1/draws/{draw}/entries", headers=heads[2])
    revealed = client.post(f"/api/v1/draws/{draw}/reveal", headers=hq)
    twice = client.post(f"/api/v1/draws/{draw}/reveal", headers=hq)
    public = client.get(f"/api/v1/draws/{draw}/verification")

    # then the hash was public from the start and the seed only after; the winners verify
    assert created.status_code == 201
    assert [response.status_code for response in entered] == [201, 201]
    tickets = [response.json()["ticket"] for response in entered]
    assert (again.status_code, again.json()["error"]) == (409, "already_entered")
    assert (before["status"], before["seed"], before["tickets"]) == ("open", None, sorted(tickets))
    assert before["seed_hash"] == created.json()["seed_hash"]
    assert (early.status_code, early.json()["error"]) == (409, "not_closed")
    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert (late.status_code, late.json()["error"]) == (409, "ended")
    assert revealed.status_code == 200
    assert (twice.status_code, twice.json()["error"]) == (409, "already_drawn")
    data = public.json()
    assert data["status"] == "drawn"
    assert seed_commitment(data["seed"]) == created.json()["seed_hash"]
    assert [r["ticket"] for r in data["results"]] == draw_winners(data["seed"], tickets, 2)
    assert [r["prize"] for r in data["results"]] == ["茶礼盒", "优惠券"]
    assert check_verification(verification_from_record(data)) == []
    assert all(member not in public.text for member in members)
    assert group not in public.text
    staff = revealed.json()
    assert sorted((e["member_id"], e["ticket"]) for e in staff["entries"]) == sorted(
        zip(members[:2], tickets, strict=True)
    )


def test_outsiders_neither_enter_nor_see_and_bad_bodies_name_the_field(
    client: TestClient, engine: Engine
) -> None:
    hq, rep = bearer(client, "hq"), bearer(client, "rep")
    group = store_groups_of(engine, "R0001")[0]
    other_group = store_groups_of(engine, "R0002")[0]
    outsider = stores_of_group(engine, other_group)[0]
    draw = client.post("/api/v1/draws", json=draw_body(group), headers=hq).json()["id"]

    entered = client.post(
        f"/api/v1/draws/{draw}/entries", headers=member_headers(client, hq, outsider)
    )
    foreign = client.post("/api/v1/draws", json=draw_body(other_group), headers=rep)
    no_prizes = client.post(
        "/api/v1/draws", json=draw_body(group) | {"prizes": [], "winners": None}, headers=hq
    )
    past = client.post("/api/v1/draws", json=draw_body(group, minutes=-5), headers=hq)

    assert (entered.status_code, entered.json()) == (404, {"detail": f"没有抽奖 {draw}"})
    assert (foreign.status_code, foreign.json()) == (404, {"detail": f"没有社群 {other_group}"})
    assert (no_prizes.status_code, no_prizes.json()) == (
        400,
        {"detail": "prizes / winners：请给出奖品列表或中奖人数"},
    )
    assert past.status_code == 400
    assert past.json()["detail"].startswith("entries_close_at：")


def test_a_member_enters_on_the_h5_page_and_sees_the_hash_then_the_seed(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    # given a draw and a member who opened its shared link
    hq = bearer(client, "hq")
    group = store_groups_of(engine, "R0001")[0]
    member = stores_of_group(engine, group)[0]
    created = client.post("/api/v1/draws", json=draw_body(group), headers=hq).json()
    token = member_headers(client, hq, member)["Authorization"].split()[1]
    phone = TestClient(app)
    page = f"/h5/draws/{created['id']}"
    phone.get("/h5/login", params={"token": token, "next": page}, follow_redirects=False)
    html = phone.get(page).text
    csrf = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', html)
    assert csrf is not None

    # when the member taps 我要参加, and later HQ closes and reveals the draw
    entered = phone.post(f"/h5/draws/{created['id']}/entries", headers={"X-CSRF-Token": csrf[1]})
    client.post(f"/api/v1/draws/{created['id']}/close", headers=hq)
    client.post(f"/api/v1/draws/{created['id']}/reveal", headers=hq)
    after = phone.get(page).text
    data = client.get(f"/api/v1/draws/{created['id']}/verification").json()

    # then the page showed the committed hash and the ticket, and later the seed and winner
    assert 'id="enter"' in html
    assert f'<code id="seed-hash">{created["seed_hash"]}</code>' in html
    ticket = data["tickets"][0]
    assert entered.status_code == 200
    assert f'<code id="ticket">{ticket}</code>' in entered.text
    assert "已报名，等待开奖" in entered.text
    assert f'<code id="seed">{data["seed"]}</code>' in after
    assert "恭喜中奖：第 1 名" in after
