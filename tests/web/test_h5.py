"""H5 member pages over HTTP: login link, cookie, CSRF, membership, refusals shown on the page."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from .activation_helpers import allow_packets_all_day, draw_body, stores_of_group
from .conftest import bearer, store_groups_of

# one backend is enough: the pages call the same actions the API tests run on both
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _member_token(client: TestClient, hq: dict[str, str], member_id: str) -> str:
    response = client.post(
        "/api/v1/members/token",
        json={"member_kind": "store", "member_id": member_id},
        headers=hq,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _phone(app: FastAPI, token: str, page: str) -> tuple[TestClient, str]:
    """Return a client logged in through the shared link, and the CSRF token of ``page``."""
    phone = TestClient(app)
    landed = phone.get("/h5/login", params={"token": token, "next": page}, follow_redirects=False)
    assert (landed.status_code, landed.headers["location"]) == (303, page)
    html = phone.get(page).text
    csrf = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', html)
    assert csrf is not None
    return phone, csrf.group(1)


def test_a_member_opens_the_link_and_grabs_once(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    # given a packet in a group and a member of it with the link
    allow_packets_all_day(engine)
    group = store_groups_of(engine, "R0001")[0]
    store = stores_of_group(engine, group)[0]
    hq = bearer(client, "hq")
    packet = client.post(
        "/api/v1/red-packets", json={"group_id": group, "total_fen": 300, "count": 3}, headers=hq
    ).json()["id"]
    phone, csrf = _phone(app, _member_token(client, hq, store), f"/h5/red-packets/{packet}")

    # when the member grabs twice, and once without the page's CSRF token
    forged = phone.post(f"/h5/red-packets/{packet}/grab")
    first = phone.post(f"/h5/red-packets/{packet}/grab", headers={"X-CSRF-Token": csrf})
    second = phone.post(f"/h5/red-packets/{packet}/grab", headers={"X-CSRF-Token": csrf})
    amount = client.get(f"/api/v1/red-packets/{packet}", headers=hq).json()["grabs"][0]

    # then one share, shown with its amount; the second grab shows the same share
    assert forged.status_code == 403
    assert "页面已过期，请刷新后重试" in forged.text
    assert first.status_code == 200
    yuan = f"¥{amount['amount_fen'] // 100}.{amount['amount_fen'] % 100:02d}"
    assert f'data-amount="{amount["amount_fen"]}" data-animate="1">{yuan}<' in first.text
    assert "已领取 1/3 个" in first.text
    assert second.status_code == 200
    assert "已领取 1/3 个" in second.text
    assert amount["member_id"] == store


def test_links_and_pages_refuse_outsiders_like_missing_objects(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    allow_packets_all_day(engine)
    group = store_groups_of(engine, "R0001")[0]
    outsider = stores_of_group(engine, store_groups_of(engine, "R0002")[0])[0]
    hq = bearer(client, "hq")
    packet = client.post(
        "/api/v1/red-packets", json={"group_id": group, "total_fen": 300, "count": 3}, headers=hq
    ).json()["id"]
    phone, _ = _phone(app, _member_token(client, hq, outsider), "/h5/")
    staff_token = hq["Authorization"].split()[1]

    foreign = phone.get(f"/h5/red-packets/{packet}")
    missing = phone.get("/h5/red-packets/999999")
    bad_link = TestClient(app).get(
        "/h5/login", params={"token": staff_token}, follow_redirects=False
    )
    elsewhere = phone.get(
        "/h5/login",
        params={"token": _member_token(client, hq, outsider), "next": "//evil.example/"},
        follow_redirects=False,
    )

    assert foreign.status_code == 404
    assert f"没有红包 {packet}" in foreign.text
    assert foreign.text == missing.text.replace("没有红包 999999", f"没有红包 {packet}")
    assert bad_link.status_code == 401
    assert "链接无效或已过期，请在群里重新打开" in bad_link.text
    assert (elsewhere.status_code, elsewhere.headers["location"]) == (303, "/h5/")


def test_home_lists_the_draws_open_to_the_member(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    # given a draw open in the rep's store group, one closed there and one in another group
    group = store_groups_of(engine, "R0001")[0]
    member = stores_of_group(engine, group)[0]
    hq = bearer(client, "hq")
    opened = [
        client.post("/api/v1/draws", json=draw_body(target, minutes), headers=hq).json()["id"]
        for target, minutes in ((group, 90), (group, 30), (store_groups_of(engine, "R0002")[0], 60))
    ]
    client.post(f"/api/v1/draws/{opened[1]}/close", headers=hq)

    # when the member opens the H5 home
    phone, _ = _phone(app, _member_token(client, hq, member), "/h5/")
    home = phone.get("/h5/").text

    # then only the open draw of their own group is listed, with its link
    assert re.findall(r'<a href="(/h5/draws/\d+)" data-draw="\d+">([^<]+)</a>', home) == [
        (f"/h5/draws/{opened[0]}", "周年庆抽奖")
    ]
    assert "请从群里的红包、秒杀、拼团、接龙或抽奖链接进入。" in home


def test_the_best_luck_sends_the_next_relay_round_from_the_packet_page(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    # given a relay of 2 rounds of ¥3.01 in 2 shares, round 1 grabbed by two members
    allow_packets_all_day(engine)
    group = store_groups_of(engine, "R0001")[0]
    members = stores_of_group(engine, group)[:2]
    outsider = stores_of_group(engine, store_groups_of(engine, "R0002")[0])[0]
    hq = bearer(client, "hq")
    body = {"group_id": group, "total_fen": 301, "count": 2, "rounds": 2}
    started = client.post("/api/v1/relays", json=body, headers=hq).json()
    relay, first = started["id"], started["packet_id"]
    phones = {
        m: _phone(app, _member_token(client, hq, m), f"/h5/red-packets/{first}") for m in members
    }
    for phone, csrf in phones.values():
        phone.post(f"/h5/red-packets/{first}/grab", headers={"X-CSRF-Token": csrf})
    best = client.get(f"/api/v1/relays/{relay}", headers=hq).json()["next_sender"]["member_id"]
    other = next(m for m in members if m != best)
    outside, outside_csrf = _phone(app, _member_token(client, hq, outsider), "/h5/")

    # when each opens round 1's page, the other, the outsider and the best luck ask to send
    pages = {m: phones[m][0].get(f"/h5/red-packets/{first}").text for m in members}
    forged = phones[best][0].post(f"/h5/relays/{relay}/next")
    refused = phones[other][0].post(
        f"/h5/relays/{relay}/next", headers={"X-CSRF-Token": phones[other][1]}
    )
    foreign = outside.post(f"/h5/relays/{relay}/next", headers={"X-CSRF-Token": outside_csrf})
    sent = phones[best][0].post(
        f"/h5/relays/{relay}/next", headers={"X-CSRF-Token": phones[best][1]}
    )
    view = client.get(f"/api/v1/relays/{relay}", headers=hq).json()
    second = view["packets"][1]["packet_id"]
    next_page = phones[best][0].get(f"/h5/red-packets/{second}").text

    # then only the best luck's page offers round 2, and only its post sends it
    assert "红包接龙 · 第 1/2 轮" in pages[best]
    assert f'hx-post="/h5/relays/{relay}/next"' in pages[best]
    assert "你是手气最佳，请发第 2 轮红包" in pages[best]
    assert f'hx-post="/h5/relays/{relay}/next"' not in pages[other]
    assert f"等待手气最佳 {best} 发第 2 轮" in pages[other]
    assert forged.status_code == 403
    assert refused.status_code == 200
    assert f"红包接龙 {relay} 第 2 轮应由上一轮手气最佳者发出" in refused.text
    assert (foreign.status_code, f"没有红包接龙 {relay}" in foreign.text) == (404, True)
    assert (sent.status_code, sent.headers["hx-redirect"]) == (200, f"/h5/red-packets/{second}")
    assert [(p["round"], p["sender_id"]) for p in view["packets"]] == [(1, "hq"), (2, best)]
    assert "红包接龙 · 第 2/2 轮" in next_page
    assert 'id="grab"' in next_page
