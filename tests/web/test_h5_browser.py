"""H5 member pages in a real browser on a phone viewport: grab, buy, join, add a line.

Debian's Chromium through Playwright (never a downloaded browser); screenshots go to
``test-artifacts/h5-*.png``; any error on the browser console fails the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import Engine

from qunyun.core.clock import utcnow

from . import test_browser
from .activation_helpers import (
    allow_packets_all_day,
    draw_body,
    group_buy_body,
    member_headers,
    order_list_body,
    sale_body,
    stores_of_group,
)
from .conftest import bearer, store_groups_of
from .test_browser import VIEWPORTS, Session

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# the system Chromium and the app served on loopback, as the console's browser tests have them
browser = test_browser.browser
server = test_browser.server


LIST_MORNING = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
"""10:00 in Shanghai: the moment the 接龙 tests open and fill today's list."""


@pytest.fixture
def cutoff_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the 接龙 clock to 10:00 in Shanghai, before the default 12:00 and 20:00 cutoffs.

    With the real clock a test run in the evening (or across midnight) finds today's list
    closed; pinned, the list is opened, filled and read at the same fixed morning.
    """
    from qunyun.activation import orderlists

    monkeypatch.setattr(orderlists, "utcnow", lambda: LIST_MORNING)


def _phone(browser: Browser, server: str, client: TestClient, store: str, page: str) -> Session:
    """Return a phone tab of a member who opened the shared link to ``page``."""
    token = member_headers(client, bearer(client, "hq"), store)["Authorization"].split()[1]
    context = browser.new_context(locale="zh-CN", **VIEWPORTS["phone"])  # type: ignore[arg-type]
    session = Session(context.new_page(), server, page.strip("/").replace("/", "-"))
    session.open(f"/h5/login?token={token}&next={page}")
    assert session.page.url == server + page
    return session


def test_a_member_grabs_a_red_packet(
    browser: Browser, server: str, client: TestClient, engine: Engine
) -> None:
    # given a packet of ¥8.88 in 4 shares, two already grabbed
    allow_packets_all_day(engine)
    group = store_groups_of(engine, "R0001")[0]
    stores = stores_of_group(engine, group)
    hq = bearer(client, "hq")
    packet = client.post(
        "/api/v1/red-packets", json={"group_id": group, "total_fen": 888, "count": 4}, headers=hq
    ).json()["id"]
    for store in stores[1:3]:
        client.post(f"/api/v1/red-packets/{packet}/grab", headers=member_headers(client, hq, store))
    session = _phone(browser, server, client, stores[0], f"/h5/red-packets/{packet}")
    page = session.page
    session.shot("before")

    # when the member taps 開 and the amount counts up
    page.click("#grab")
    page.wait_for_selector("#my-amount:not([data-animate])")
    grab = next(
        g
        for g in client.get(f"/api/v1/red-packets/{packet}", headers=hq).json()["grabs"]
        if g["member_id"] == stores[0]
    )
    expected = f"¥{grab['amount_fen'] // 100}.{grab['amount_fen'] % 100:02d}"
    page.wait_for_function(
        f"document.getElementById('my-amount').textContent === '{expected}'", timeout=5000
    )
    session.shot("grabbed")

    # then the amount and the list of grabs (with the member's own line) show
    assert grab["position"] == 3
    assert (
        page.inner_text("h2")
        == f"已领取 3/4 个，共 ¥{_yuan(sum_grabbed(client, hq, packet))}/¥8.88"
    )
    assert page.locator("#grabs li").count() == 3
    assert page.inner_text("#grabs li.me") == f"{stores[0]}\n{expected}"
    assert session.errors == []


def sum_grabbed(client: TestClient, hq: dict[str, str], packet: int) -> int:
    body = client.get(f"/api/v1/red-packets/{packet}", headers=hq).json()
    return int(body["total_fen"] - body["remaining_fen"])


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def test_the_best_luck_sends_the_next_relay_round_from_the_phone(
    browser: Browser, server: str, client: TestClient, engine: Engine
) -> None:
    # given a relay of 2 rounds of ¥3.01 in 2 shares, round 1 grabbed by two members
    allow_packets_all_day(engine)
    group = store_groups_of(engine, "R0001")[0]
    stores = stores_of_group(engine, group)[:2]
    hq = bearer(client, "hq")
    body = {"group_id": group, "total_fen": 301, "count": 2, "rounds": 2}
    started = client.post("/api/v1/relays", json=body, headers=hq).json()
    relay, first = started["id"], started["packet_id"]
    for store in stores:
        client.post(f"/api/v1/red-packets/{first}/grab", headers=member_headers(client, hq, store))
    best = client.get(f"/api/v1/relays/{relay}", headers=hq).json()["next_sender"]["member_id"]
    session = _phone(browser, server, client, best, f"/h5/red-packets/{first}")
    page = session.page
    session.shot("asked")

    # when the best luck taps the button to send round 2
    assert page.inner_text("#relay") == "红包接龙 · 第 1/2 轮"
    assert page.inner_text("#relay-ask") == "你是手气最佳，请发第 2 轮红包"
    page.click("#relay-next")
    page.wait_for_selector("#grab")  # round 2's page, where HTMX was sent (HX-Redirect)
    session.shot("sent")

    # then the phone shows round 2's packet, sent as the member, ready to grab
    view = client.get(f"/api/v1/relays/{relay}", headers=hq).json()
    second = view["packets"][1]["packet_id"]
    assert page.url == f"{server}/h5/red-packets/{second}"
    assert page.inner_text("#relay") == "红包接龙 · 第 2/2 轮"
    assert [(p["round"], p["sender_id"]) for p in view["packets"]] == [(1, "hq"), (2, best)]
    assert session.errors == []


def test_a_member_buys_in_a_flash_sale_with_a_countdown(
    browser: Browser, server: str, client: TestClient, engine: Engine
) -> None:
    group = store_groups_of(engine, "R0001")[0]
    store = stores_of_group(engine, group)[0]
    hq = bearer(client, "hq")
    sale = client.post("/api/v1/flash-sales", json=sale_body(group, stock=10, limit=3), headers=hq)
    later = sale_body(group) | {
        "starts_at": (utcnow() + timedelta(hours=2)).isoformat(),
        "ends_at": (utcnow() + timedelta(hours=3)).isoformat(),
    }
    upcoming = client.post("/api/v1/flash-sales", json=later, headers=hq).json()["id"]
    session = _phone(browser, server, client, store, f"/h5/flash-sales/{upcoming}")
    page = session.page

    # an upcoming sale counts down to its start with the button disabled
    page.wait_for_function("document.getElementById('countdown').textContent.includes(':')")
    assert page.inner_text("#countdown").startswith("距开始 01:59:")
    assert page.is_disabled("#buy")
    session.shot("upcoming")

    # the open sale: choose 2, buy
    session.open(f"/h5/flash-sales/{sale.json()['id']}")
    page.wait_for_function("document.getElementById('countdown').textContent.includes(':')")
    assert page.inner_text("#countdown").startswith("距结束 00:5")
    page.select_option("#qty", "2")
    page.click("#buy")
    page.wait_for_selector("#order-ok")
    session.shot("bought")

    detail = client.get(f"/api/v1/flash-sales/{sale.json()['id']}", headers=hq).json()
    assert page.inner_text("#order-ok") == f"抢购成功！订单号 {detail['orders'][0]['order_id']}"
    assert page.inner_text("#stock-left") == "剩余 8 / 10 件 · 我已买 2 件"
    assert (detail["sold"], detail["orders"][0]["member_id"]) == (2, store)
    assert session.errors == []


def test_a_member_joins_a_group_buy_team(
    browser: Browser, server: str, client: TestClient, engine: Engine
) -> None:
    # given a deal of 3 with a team opened by another member
    group = store_groups_of(engine, "R0001")[0]
    leader, joiner = stores_of_group(engine, group)[:2]
    hq = bearer(client, "hq")
    deal = client.post("/api/v1/group-buys", json=group_buy_body(group), headers=hq).json()["id"]
    opened = client.post(
        f"/api/v1/group-buys/{deal}/teams", headers=member_headers(client, hq, leader)
    )
    session = _phone(browser, server, client, joiner, f"/h5/group-buys/{deal}")
    page = session.page
    session.shot("before")

    # when the member joins it
    page.click("#teams button.join")
    page.wait_for_selector("#my-team")
    session.shot("joined")

    # then the team shows two of three, the leader first
    assert page.inner_text("#my-team h2") == "等待成团：2/3"
    assert page.inner_text("#my-team ul") == f"{leader}\n团长\n{joiner}"
    team = client.get(f"/api/v1/group-buys/{deal}", headers=hq).json()["teams"][0]
    assert (team["team_id"], team["joined"]) == (opened.json()["team_id"], 2)
    assert session.errors == []


def test_a_member_adds_a_line_to_todays_list(
    browser: Browser, server: str, client: TestClient, engine: Engine, cutoff_late: None
) -> None:
    group = store_groups_of(engine, "R0001")[0]
    partner, member = stores_of_group(engine, group)[:2]
    hq = bearer(client, "hq")
    order_list = client.post(
        "/api/v1/order-lists", json=order_list_body(group, partner), headers=hq
    ).json()["id"]
    session = _phone(browser, server, client, member, f"/h5/order-lists/{order_list}")
    page = session.page
    session.shot("before")

    page.select_option("#item", "MILK")
    page.fill("#line-qty", "3")
    page.click("#add-line")
    page.wait_for_selector("#lines li:not(.note)")
    session.shot("added")

    assert page.inner_text("#lines li") == f"{member}\n鲜牛奶 1L × 3\n¥36.00"
    lines = client.get(f"/api/v1/order-lists/{order_list}", headers=hq).json()["lines"]
    assert [(x["member_id"], x["item_code"], x["qty"]) for x in lines] == [(member, "MILK", 3)]
    assert session.errors == []


def test_a_member_enters_a_lucky_draw_and_later_sees_the_seed_and_winners(
    browser: Browser, server: str, client: TestClient, engine: Engine
) -> None:
    # given a draw with two prizes in the member's group
    group = store_groups_of(engine, "R0001")[0]
    member = stores_of_group(engine, group)[0]
    hq = bearer(client, "hq")
    created = client.post("/api/v1/draws", json=draw_body(group), headers=hq).json()
    session = _phone(browser, server, client, member, f"/h5/draws/{created['id']}")
    page = session.page
    session.shot("before")

    # when the member enters, and HQ closes and reveals the draw
    page.click("#enter")
    page.wait_for_selector("#my-ticket")
    session.shot("entered")
    ticket = page.inner_text("#ticket")
    client.post(f"/api/v1/draws/{created['id']}/close", headers=hq)
    client.post(f"/api/v1/draws/{created['id']}/reveal", headers=hq)
    page.reload()
    session.shot("drawn")

    # then the committed hash was shown, and now the seed and the member's winning ticket
    data = client.get(f"/api/v1/draws/{created['id']}/verification").json()
    assert page.inner_text("#seed-hash") == created["seed_hash"]
    assert page.inner_text("#seed") == data["seed"]
    assert page.inner_text("#my-ticket h2") == "恭喜中奖：第 1 名"
    assert page.inner_text("#winners li.me") == f"第 1 名 · 茶礼盒\n{ticket}"
    assert data["results"][0]["ticket"] == ticket
    assert session.errors == []
