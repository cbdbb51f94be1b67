"""The activation API through an HTTP client, on SQLite and PostgreSQL, with SQL or Redis state.

Member tokens, red packets, flash sales, 拼团 and 接龙: what members and staff get, refusals
as ``{"error": code}``, the caller's scope, and tokens of the wrong kind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from qunyun.activation.hot import RedisHotState
from qunyun.analytics.lake import open_lake
from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.core.settings import get_settings
from qunyun.events.actions import tenant_lake
from qunyun.groups.actions import do_create_group, do_join
from qunyun.groups.models import Matrix, MemberRole
from qunyun.jobs import run_due_work
from qunyun.org.models import Tenant
from qunyun.web.app import create_app

from ..conftest import Cli
from .activation_helpers import (
    allow_packets_all_day,
    group_buy_body,
    member_headers,
    order_list_body,
    sale_body,
    stores_of_group,
)
from .conftest import KEY, bearer, store_groups_of


@pytest.fixture(params=["sql", "redis"])
def app(request: pytest.FixtureRequest, engine: Engine, demo: Cli) -> FastAPI:
    """Return the app with hot counters in SQL, then in Redis."""
    hot: RedisHotState | None = None
    if request.param == "redis":
        hot = request.getfixturevalue("hot")
    allow_packets_all_day(engine)
    return create_app(engine, KEY, hot)


@pytest.fixture
def hq(client: TestClient) -> dict[str, str]:
    return bearer(client, "hq")


@pytest.fixture
def group(engine: Engine) -> str:
    """Return the first store group of rep R0001."""
    return store_groups_of(engine, "R0001")[0]


@pytest.fixture
def stores(engine: Engine, group: str) -> list[str]:
    return stores_of_group(engine, group)


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


# --- member tokens ---------------------------------------------------------------------------


def test_member_tokens_are_issued_by_hq_and_group_admins_within_scope(
    client: TestClient, hq: dict[str, str], engine: Engine, stores: list[str]
) -> None:
    rep, analyst, admin = bearer(client, "rep"), bearer(client, "analyst"), bearer(client, "admin")
    body = {"member_kind": "store", "member_id": stores[0]}
    admin_groups = client.get("/api/v1/groups", params={"limit": 500}, headers=admin).json()
    admin_store_group = next(g["id"] for g in admin_groups["items"] if g["matrix"] == "store")
    admin_stores = stores_of_group(engine, admin_store_group)
    outside_admin = "C-OUTSIDE"
    with unit_of_work(engine) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "demo")).one()
        do_create_group(session, tenant, "CG-NEW", "新建消费者群", Matrix.CONSUMER)
        do_join(session, tenant, "CG-NEW", ContactKind.STORE, outside_admin, MemberRole.CUSTOMER)

    issued = client.post("/api/v1/members/token", json=body, headers=hq)
    by_admin = client.post(
        "/api/v1/members/token",
        json={"member_kind": "store", "member_id": admin_stores[0]},
        headers=admin,
    )
    admin_outside = client.post(
        "/api/v1/members/token",
        json={"member_kind": "store", "member_id": outside_admin},
        headers=admin,
    )
    by_rep = client.post("/api/v1/members/token", json=body, headers=rep)
    by_analyst = client.post("/api/v1/members/token", json=body, headers=analyst)
    unknown = client.post(
        "/api/v1/members/token", json={"member_kind": "store", "member_id": "NOPE"}, headers=hq
    )
    staff_kind = client.post(
        "/api/v1/members/token", json={"member_kind": "staff", "member_id": "R0001"}, headers=hq
    )
    anonymous = client.post("/api/v1/members/token", json=body)

    assert issued.status_code == 200
    assert set(issued.json()) == {"access_token"}
    assert by_admin.status_code == 200
    assert (admin_outside.status_code, admin_outside.json()) == (
        404,
        {"detail": f"没有会员 store {outside_admin}"},
    )
    assert (by_rep.status_code, by_rep.json()) == (
        403,
        {"detail": "只有总部管理员和群管理员可以签发会员令牌"},
    )
    assert by_analyst.status_code == 403
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "没有会员 store NOPE"})
    assert staff_kind.status_code == 422
    assert anonymous.status_code == 401


def test_member_tokens_and_staff_tokens_do_not_pass_for_each_other(
    client: TestClient, hq: dict[str, str], group: str, stores: list[str]
) -> None:
    member = member_headers(client, hq, stores[0])
    packet = client.post(
        "/api/v1/red-packets", json={"group_id": group, "total_fen": 500, "count": 5}, headers=hq
    ).json()["id"]

    as_staff = [
        client.get("/api/v1/me", headers=member),
        client.get("/api/v1/groups", headers=member),
        client.get(f"/api/v1/red-packets/{packet}", headers=member),
        client.post(
            "/api/v1/red-packets",
            json={"group_id": group, "total_fen": 500, "count": 5},
            headers=member,
        ),
        client.post(
            "/api/v1/members/token",
            json={"member_kind": "store", "member_id": stores[1]},
            headers=member,
        ),
    ]
    as_member = client.post(f"/api/v1/red-packets/{packet}/grab", headers=hq)
    forged = client.post(
        f"/api/v1/red-packets/{packet}/grab", headers={"Authorization": "Bearer forged.token"}
    )

    assert [response.status_code for response in as_staff] == [401] * 5
    assert as_staff[0].json() == {"detail": "令牌无效或已过期，请重新获取"}
    assert (as_member.status_code, as_member.json()) == (
        401,
        {"detail": "会员令牌无效或已过期，请从群里的链接重新打开"},
    )
    assert forged.status_code == 401


# --- red packets ---------------------------------------------------------------------------


def test_members_grab_a_packet_once_each_until_it_is_empty(
    client: TestClient, hq: dict[str, str], group: str, stores: list[str], engine: Engine
) -> None:
    # given a packet of ¥3 in 3 shares and four members of its group
    created = client.post(
        "/api/v1/red-packets", json={"group_id": group, "total_fen": 300, "count": 3}, headers=hq
    )
    packet = created.json()["id"]
    members = [member_headers(client, hq, store) for store in stores[:4]]

    # when they grab (the first one twice)
    grabs = [client.post(f"/api/v1/red-packets/{packet}/grab", headers=m) for m in members[:3]]
    again = client.post(f"/api/v1/red-packets/{packet}/grab", headers=members[0])
    late = client.post(f"/api/v1/red-packets/{packet}/grab", headers=members[3])
    detail = client.get(f"/api/v1/red-packets/{packet}", headers=hq)

    # then three shares summing to the total, then refusals
    assert (created.status_code, set(created.json())) == (201, {"id"})
    assert [grab.status_code for grab in grabs] == [200, 200, 200]
    assert [set(grab.json()) for grab in grabs] == [{"amount_fen", "position"}] * 3
    assert [grab.json()["position"] for grab in grabs] == [1, 2, 3]
    assert sum(grab.json()["amount_fen"] for grab in grabs) == 300
    assert (again.status_code, again.json()["error"]) == (409, "already_grabbed")
    assert (late.status_code, late.json()["error"]) == (409, "empty")
    assert late.json() == {"error": "empty", "detail": f"红包 {packet} 已被抢完"}
    assert detail.status_code == 200
    assert detail.json() == {
        "id": packet,
        "group_id": group,
        "total_fen": 300,
        "count": 3,
        "remaining_fen": 0,
        "grabs": [
            {
                "member_kind": "store",
                "member_id": stores[index],
                "amount_fen": grabs[index].json()["amount_fen"],
                "position": index + 1,
            }
            for index in range(3)
        ],
    }


def test_a_packet_and_its_grabs_reach_the_event_lake_once_through_the_job(
    client: TestClient,
    hq: dict[str, str],
    group: str,
    stores: list[str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    # given the job configured with the app's Redis (if any), the demo's own packets in the
    # lake already, then a packet of ¥3 in 3 shares sent by HQ and grabbed by two members
    hot: RedisHotState | None = client.app.state.hot  # type: ignore[attr-defined]
    if hot is not None:
        monkeypatch.setenv("QUNYUN_REDIS_URL", request.getfixturevalue("redis_url"))
        monkeypatch.setenv("QUNYUN_REDIS_PREFIX", hot.prefix)
        get_settings.cache_clear()
    run_due_work()
    packet = client.post(
        "/api/v1/red-packets", json={"group_id": group, "total_fen": 300, "count": 3}, headers=hq
    ).json()["id"]
    grabbed = {
        store: client.post(
            f"/api/v1/red-packets/{packet}/grab", headers=member_headers(client, hq, store)
        ).json()["amount_fen"]
        for store in stores[:2]
    }

    # when the due work runs twice
    first = run_due_work()
    second = run_due_work()

    # then the lake holds the send and the two grabs with their amounts, once each
    with unit_of_work(engine) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "demo")).one()
    events = open_lake(tenant_lake(tenant)).events
    rows = (
        events.filter(events.red_packet_id == str(packet))
        .select("kind", "group_id", "member_kind", "member_id", "amount_fen")
        .to_pyarrow()
        .to_pylist()
    )
    assert first.exported_events == {"demo": 3}
    assert second.exported_events == {}
    assert sorted(tuple(row.values()) for row in rows) == [
        ("red_packet_grab", group, "store", stores[0], grabbed[stores[0]]),
        ("red_packet_grab", group, "store", stores[1], grabbed[stores[1]]),
        ("red_packet_send", group, "staff", "hq", 300),
    ]


def test_orders_of_a_sale_and_a_completed_team_reach_the_event_lake_once_through_the_job(
    client: TestClient,
    hq: dict[str, str],
    group: str,
    stores: list[str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    # given the job configured with the app's Redis (if any), the demo's events in the lake,
    # then two members' orders in a flash sale, and a team of three completed by HTTP
    hot: RedisHotState | None = client.app.state.hot  # type: ignore[attr-defined]
    if hot is not None:
        monkeypatch.setenv("QUNYUN_REDIS_URL", request.getfixturevalue("redis_url"))
        monkeypatch.setenv("QUNYUN_REDIS_PREFIX", hot.prefix)
        get_settings.cache_clear()
    run_due_work()
    members = [member_headers(client, hq, store) for store in stores[:3]]
    sale = client.post("/api/v1/flash-sales", json=sale_body(group), headers=hq).json()["id"]
    url = f"/api/v1/flash-sales/{sale}/orders"
    orders = [
        client.post(url, json={"qty": qty}, headers=member).json()["order_id"]
        for qty, member in zip((2, 1), members, strict=False)
    ]
    deal = client.post("/api/v1/group-buys", json=group_buy_body(group), headers=hq).json()["id"]
    team = client.post(f"/api/v1/group-buys/{deal}/teams", headers=members[0]).json()["team_id"]
    for member in members[1:]:
        client.post(f"/api/v1/group-buy-teams/{team}/members", headers=member)

    # when the due work runs twice
    first = run_due_work()
    second = run_due_work()

    # then the lake holds the two orders and the team's three units, once each
    with unit_of_work(engine) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "demo")).one()
    expected = [
        ("order", group, "store", stores[0], f"flash_sale:{orders[0]}", 5980),
        ("order", group, "store", stores[1], f"flash_sale:{orders[1]}", 2990),
    ] + [
        ("order", group, "store", store, f"group_buy:{team}:store:{store}", 1990)
        for store in stores[:3]
    ]
    events = open_lake(tenant_lake(tenant)).events
    rows = (
        events.filter(events.order_id.isin([row[4] for row in expected]))
        .select("kind", "group_id", "member_kind", "member_id", "order_id", "amount_fen")
        .to_pyarrow()
        .to_pylist()
    )
    assert first.exported_events == {"demo": 5}
    assert second.exported_events == {}
    assert sorted(tuple(row.values()) for row in rows) == sorted(expected)


def test_a_member_outside_the_group_gets_404_and_staff_outside_the_scope_too(
    client: TestClient, hq: dict[str, str], group: str, engine: Engine
) -> None:
    foreign_group = store_groups_of(engine, "R0002")[0]
    outsider = stores_of_group(engine, foreign_group)[0]
    rep = bearer(client, "rep")
    packet = client.post(
        "/api/v1/red-packets", json={"group_id": group, "total_fen": 300, "count": 3}, headers=hq
    ).json()["id"]
    foreign_packet = client.post(
        "/api/v1/red-packets",
        json={"group_id": foreign_group, "total_fen": 300, "count": 3},
        headers=hq,
    ).json()["id"]

    grab = client.post(
        f"/api/v1/red-packets/{packet}/grab", headers=member_headers(client, hq, outsider)
    )
    own = client.get(f"/api/v1/red-packets/{packet}", headers=rep)
    foreign = client.get(f"/api/v1/red-packets/{foreign_packet}", headers=rep)
    missing = client.get("/api/v1/red-packets/999999", headers=rep)
    send_foreign = client.post(
        "/api/v1/red-packets",
        json={"group_id": foreign_group, "total_fen": 300, "count": 3},
        headers=rep,
    )

    assert grab.status_code == 404
    assert grab.json() == {"detail": f"没有红包 {packet}"}
    assert own.status_code == 200
    assert (foreign.status_code, foreign.json()) == (404, {"detail": f"没有红包 {foreign_packet}"})
    assert missing.json() == {"detail": "没有红包 999999"}
    assert (send_foreign.status_code, send_foreign.json()) == (
        404,
        {"detail": f"没有社群 {foreign_group}"},
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"total_fen": 300, "count": 3}, 422),
        ({"group_id": "G", "total_fen": -1, "count": 3}, 422),
        ({"group_id": "G", "total_fen": 300, "count": 0}, 422),
        ({"group_id": "G", "total_fen": "many", "count": 3}, 422),
        ({"group_id": "G", "total_fen": 300, "count": 3, "extra": 1}, 422),
    ],
)
def test_malformed_packets_are_refused_with_4xx(
    client: TestClient, hq: dict[str, str], body: dict[str, object], status: int
) -> None:
    response = client.post("/api/v1/red-packets", json=body, headers=hq)

    assert response.status_code == status
    assert response.json()["detail"].startswith("请求参数有误：")


def test_packet_rules_refuse_with_clear_messages(
    client: TestClient, hq: dict[str, str], group: str
) -> None:
    too_many = client.post(
        "/api/v1/red-packets", json={"group_id": group, "total_fen": 5, "count": 6}, headers=hq
    )
    too_big = client.post(
        "/api/v1/red-packets",
        json={"group_id": group, "total_fen": 30_000, "count": 6},
        headers=hq,
    )

    assert (too_many.status_code, too_many.json()) == (
        400,
        {"detail": "总金额 5 分不够 6 人每人 1 分"},
    )
    assert (too_big.status_code, too_big.json()) == (
        400,
        {"detail": "红包金额应在 ¥0.01–¥200.00 之间（收到 ¥300.00）"},
    )


# --- flash sales ---------------------------------------------------------------------------


def test_flash_sale_orders_keep_stock_and_limits(
    client: TestClient, hq: dict[str, str], group: str, stores: list[str]
) -> None:
    # given a sale of 5 units, at most 2 a member
    created = client.post("/api/v1/flash-sales", json=sale_body(group), headers=hq)
    sale = created.json()["id"]
    a, b, c = (member_headers(client, hq, store) for store in stores[:3])
    url = f"/api/v1/flash-sales/{sale}/orders"

    # when members buy
    first = client.post(url, json={"qty": 2}, headers=a)
    over_limit = client.post(url, json={"qty": 1}, headers=a)
    second = client.post(url, json={"qty": 2}, headers=b)
    short = client.post(url, json={"qty": 2}, headers=c)
    last = client.post(url, json={"qty": 1}, headers=c)
    sold_out = client.post(url, json={"qty": 1}, headers=c)
    bad_qty = client.post(url, json={"qty": 0}, headers=c)
    detail = client.get(f"/api/v1/flash-sales/{sale}", headers=hq)

    # then
    assert (created.status_code, set(created.json())) == (201, {"id"})
    assert [r.status_code for r in (first, second, last)] == [201, 201, 201]
    assert set(first.json()) == {"order_id"}
    assert (over_limit.status_code, over_limit.json()) == (
        409,
        {"error": "limit_exceeded", "detail": "每人限购 2 件"},
    )
    assert (short.status_code, short.json()["error"]) == (409, "sold_out")
    assert (sold_out.status_code, sold_out.json()["error"]) == (409, "sold_out")
    assert bad_qty.status_code == 422
    body = detail.json()
    assert (body["stock"], body["sold"]) == (5, 5)
    assert [(o["order_id"], o["member_id"], o["qty"], o["amount_fen"]) for o in body["orders"]] == [
        (first.json()["order_id"], stores[0], 2, 5980),
        (second.json()["order_id"], stores[1], 2, 5980),
        (last.json()["order_id"], stores[2], 1, 2990),
    ]


def test_flash_sale_window_and_retried_attempts(
    client: TestClient, hq: dict[str, str], group: str, stores: list[str]
) -> None:
    later = sale_body(group) | {
        "starts_at": (utcnow() + timedelta(hours=1)).isoformat(),
        "ends_at": (utcnow() + timedelta(hours=2)).isoformat(),
    }
    over = sale_body(group) | {
        "starts_at": (utcnow() - timedelta(hours=2)).isoformat(),
        "ends_at": (utcnow() - timedelta(hours=1)).isoformat(),
    }
    naive = sale_body(group) | {"starts_at": "2026-11-23T10:00:00"}
    member = member_headers(client, hq, stores[0])
    sales = [
        client.post("/api/v1/flash-sales", json=b, headers=hq).json()["id"] for b in (later, over)
    ]
    open_sale = client.post("/api/v1/flash-sales", json=sale_body(group), headers=hq).json()["id"]
    retry = member | {"Idempotency-Key": "attempt-1"}

    not_started = client.post(
        f"/api/v1/flash-sales/{sales[0]}/orders", json={"qty": 1}, headers=member
    )
    ended = client.post(f"/api/v1/flash-sales/{sales[1]}/orders", json={"qty": 1}, headers=member)
    once = client.post(f"/api/v1/flash-sales/{open_sale}/orders", json={"qty": 1}, headers=retry)
    twice = client.post(f"/api/v1/flash-sales/{open_sale}/orders", json={"qty": 1}, headers=retry)
    refused_naive = client.post("/api/v1/flash-sales", json=naive, headers=hq)

    assert (not_started.status_code, not_started.json()["error"]) == (409, "not_started")
    assert (ended.status_code, ended.json()["error"]) == (409, "ended")
    assert (once.status_code, twice.status_code) == (201, 201)
    assert once.json() == twice.json()
    assert client.get(f"/api/v1/flash-sales/{open_sale}", headers=hq).json()["sold"] == 1
    assert refused_naive.status_code == 422


# --- 拼团 and 接龙 ---------------------------------------------------------------------------


def test_a_team_completes_when_the_last_member_joins(
    client: TestClient, hq: dict[str, str], group: str, stores: list[str]
) -> None:
    deal = client.post("/api/v1/group-buys", json=group_buy_body(group), headers=hq).json()["id"]
    a, b, c, d = (member_headers(client, hq, store) for store in stores[:4])

    opened = client.post(f"/api/v1/group-buys/{deal}/teams", headers=a)
    team = opened.json()["team_id"]
    joined = client.post(f"/api/v1/group-buy-teams/{team}/members", headers=b)
    twice = client.post(f"/api/v1/group-buy-teams/{team}/members", headers=b)
    full = client.post(f"/api/v1/group-buy-teams/{team}/members", headers=c)
    too_late = client.post(f"/api/v1/group-buy-teams/{team}/members", headers=d)
    detail = client.get(f"/api/v1/group-buys/{deal}", headers=hq)

    assert opened.status_code == 201
    assert (opened.json()["status"], opened.json()["joined"]) == ("open", 1)
    assert (joined.status_code, joined.json()["joined"]) == (200, 2)
    assert (twice.status_code, twice.json()["error"]) == (409, "already_joined")
    assert (full.json()["status"], full.json()["joined"]) == ("complete", 3)
    assert [m["member_id"] for m in full.json()["members"]] == stores[:3]
    assert (too_late.status_code, too_late.json()["error"]) == (409, "ended")
    assert (detail.json()["sold"], detail.json()["reserved"]) == (3, 0)


def test_members_add_lines_to_todays_list(
    client: TestClient, hq: dict[str, str], group: str, stores: list[str], cutoff_late: None
) -> None:
    created = client.post("/api/v1/order-lists", json=order_list_body(group, stores[0]), headers=hq)
    order_list = created.json()["id"]
    member = member_headers(client, hq, stores[1])

    line = client.post(
        f"/api/v1/order-lists/{order_list}/lines",
        json={"item_code": "EGG30", "qty": 2},
        headers=member,
    )
    unknown = client.post(
        f"/api/v1/order-lists/{order_list}/lines",
        json={"item_code": "NOPE", "qty": 1},
        headers=member,
    )
    again = client.post("/api/v1/order-lists", json=order_list_body(group, stores[0]), headers=hq)
    detail = client.get(f"/api/v1/order-lists/{order_list}", headers=hq)

    assert created.status_code == 201
    assert (line.status_code, line.json()["amount_fen"]) == (201, 7000)
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": f"接龙 {order_list} 没有商品 NOPE"},
    )
    assert (again.status_code, again.json()) == (409, {"detail": f"社群 {group} 今天的接龙已开"})
    assert [
        (x["member_id"], x["item_code"], x["qty"], x["locked"]) for x in detail.json()["lines"]
    ] == [(stores[1], "EGG30", 2, False)]
