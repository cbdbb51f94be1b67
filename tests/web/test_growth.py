"""The growth analyses over HTTP: exact figures of a known week for HQ, a manager and a rep.

The figures below follow from ``growth_events`` by the README's definitions; the scope of each
role is the access guard's (HQ all, the manager Guangdong, the rep his store group SG000001).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from qunyun.channel.models import Store
from qunyun.core.db import unit_of_work
from qunyun.groups.models import Group

from ..conftest import Cli
from .conftest import bearer, console_login, csrf_of
from .growth_events import FAR, ORDER_FEN, OTHER, OWN, import_growth_events


@pytest.fixture
def lake(demo: Cli, tmp_path: Path) -> None:
    """Import the known week into the demo brand's lake."""
    import_growth_events(demo, tmp_path)


def _get(client: TestClient, user: str, analysis: str, **params: Any) -> Any:
    response = client.get(
        f"/api/v1/analytics/{analysis}", headers=bearer(client, user), params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def _purchase(engine: Engine, store_id: str) -> int:
    with unit_of_work(engine) as session:
        value = session.scalar(select(Store.annual_purchase_fen).where(Store.store_id == store_id))
    assert value is not None
    return value


def _candidate(
    engine: Engine, province: str, rank: int, store: str, orders: int, score: float, vip: bool
) -> dict[str, Any]:
    with unit_of_work(engine) as session:
        name = session.scalar(select(Store.name).where(Store.store_id == store))
    purchase = _purchase(engine, store)
    return {
        "province_code": province,
        "province": {"440000": "广东省", "330000": "浙江省"}[province],
        "rank": rank,
        "store_id": store,
        "name": name,
        "value_fen": purchase + orders,
        "annual_purchase_fen": purchase,
        "order_fen": orders,
        "score": score,
        "level": "active",
        "in_vip_group": vip,
    }


# --- API: HQ, manager, rep ----------------------------------------------------------------


@pytest.mark.usefixtures("lake")
def test_vip_candidates_by_scope(client: TestClient, engine: Engine) -> None:
    # given OTHER buys more than OWN, and OWN's order and early message: 6 + 5 + 0.5^(20/14)
    assert _purchase(engine, OTHER) > _purchase(engine, OWN) + ORDER_FEN
    far = _candidate(engine, "330000", 1, FAR, 0, 6.0, False)
    other = _candidate(engine, "440000", 1, OTHER, 0, 6.0, True)
    own = _candidate(engine, "440000", 2, OWN, ORDER_FEN, 11.37, False)

    # when each role asks
    hq = _get(client, "hq", "vip-candidates")
    manager = _get(client, "manager", "vip-candidates")
    rep = _get(client, "rep", "vip-candidates")
    one_province = _get(client, "hq", "vip-candidates", province="440000", limit=1)

    # then each sees the candidates of his stores, ranked within the whole province
    assert hq == {"as_of": "2026-11-23", "share": 0.05, "total": 3, "items": [far, other, own]}
    assert manager == {"as_of": "2026-11-23", "share": 0.05, "total": 2, "items": [other, own]}
    assert rep == {"as_of": "2026-11-23", "share": 0.05, "total": 1, "items": [own]}
    assert one_province == {"as_of": "2026-11-23", "share": 0.05, "total": 2, "items": [other]}


def _funnel(store: list[int], consumer: list[int]) -> list[dict[str, Any]]:
    steps = ("acquired", "activated", "retained", "revenue", "referral")
    zero = [0] * 5
    return [
        {"matrix": matrix, **dict(zip(steps, counts, strict=True))}
        for matrix, counts in (
            ("dealer", zero), ("store", store), ("consumer", consumer), ("vip", zero),
        )
    ]  # fmt: skip


@pytest.mark.usefixtures("lake")
def test_funnel_by_scope(client: TestClient) -> None:
    hq = _get(client, "hq", "funnel")
    manager = _get(client, "manager", "funnel")
    rep = _get(client, "rep", "funnel")

    # HQ: stores OWN, N1, OTHER, FAR joined; OWN and OTHER spoke within 7 days, OWN again in
    # week 4, ordered and invited N1; consumers CU0000006 (spoke), N2 and N3 (Guangdong), N4
    assert hq == {"as_of": "2026-11-23", "matrices": _funnel([4, 2, 1, 1, 1], [4, 1, 0, 0, 2])}
    assert manager == {
        "as_of": "2026-11-23",
        "matrices": _funnel([3, 2, 1, 1, 1], [3, 1, 0, 0, 2]),
    }
    assert rep == {"as_of": "2026-11-23", "matrices": _funnel([2, 1, 1, 1, 1], [0] * 5)}


@pytest.mark.usefixtures("lake")
def test_cohorts_by_scope(client: TestClient) -> None:
    hq = _get(client, "hq", "cohorts")["cohorts"]
    manager = _get(client, "manager", "cohorts")["cohorts"]
    rep = _get(client, "rep", "cohorts")["cohorts"]

    # week of 11-02: OWN (weeks 0 and 3), CU0000006 (week 0); of 11-09: N1, N2, N3, N4 and
    # FAR (week 2); of 11-16: OTHER (week 1)
    assert hq == [
        {"cohort_week": "2026-11-02", "members": 2, "active": [2, 0, 0, 1],
         "shares": [1.0, 0.0, 0.0, 0.5]},
        {"cohort_week": "2026-11-09", "members": 5, "active": [0, 0, 1], "shares": [0.0, 0.0, 0.2]},
        {"cohort_week": "2026-11-16", "members": 1, "active": [0, 1], "shares": [0.0, 1.0]},
    ]  # fmt: skip
    assert manager == [
        hq[0],
        {"cohort_week": "2026-11-09", "members": 3, "active": [0, 0, 0], "shares": [0.0, 0.0, 0.0]},
        hq[2],
    ]
    assert rep == [
        {"cohort_week": "2026-11-02", "members": 1, "active": [1, 0, 0, 1],
         "shares": [1.0, 0.0, 0.0, 1.0]},
        {"cohort_week": "2026-11-09", "members": 1, "active": [0, 0, 0], "shares": [0.0, 0.0, 0.0]},
    ]  # fmt: skip


def _tiers(shares: list[float], delays: list[float | None], decays: list[float | None]) -> Any:
    return [
        {"tier": tier, "share": share, "median_delay_hours": delay, "decay": decay}
        for tier, share, delay, decay in zip(
            ("dealer", "store", "consumer"), shares, delays, decays, strict=True
        )
    ]


@pytest.mark.usefixtures("lake")
def test_reach_by_scope(client: TestClient) -> None:
    hq = _get(client, "hq", "reach")
    manager = _get(client, "manager", "reach")
    rep = _get(client, "rep", "reach")

    # C1: 1 dealer group at 10:00; store groups 18 h and 24 h later (median 21); the consumer
    # group 30 h after the first store group
    assert hq == {
        "as_of": "2026-11-23",
        "groups": {"dealer": 14, "store": 9, "consumer": 7},
        "mean_share": {"dealer": 0.0714, "store": 0.2222, "consumer": 0.1429},
        "mean_decay": {"store": -2.1111, "consumer": 0.3571},
        "rule_of_thumb_decay": 0.3,
        "contents": [
            {
                "content_id": "C1",
                "tiers": _tiers(
                    [0.0714, 0.2222, 0.1429], [None, 21.0, 30.0], [None, -2.1111, 0.3571]
                ),
            }
        ],
    }
    assert manager["groups"] == {"dealer": 4, "store": 3, "consumer": 2}
    assert manager["contents"][0]["tiers"] == _tiers(
        [0.25, 0.6667, 0.5], [None, 21.0, 30.0], [None, -1.6667, 0.25]
    )
    # the rep's scope has one store group and no tier above it
    assert rep["groups"] == {"dealer": 0, "store": 1, "consumer": 0}
    assert rep["contents"][0]["tiers"] == _tiers([0.0, 1.0, 0.0], [None] * 3, [None, None, 1.0])


def _referrer(rank: int, kind: str, member: str, name: str | None, *counts: int) -> Any:
    direct, total, depth = counts
    return {
        "rank": rank, "member_kind": kind, "member_id": member, "name": name,
        "direct": direct, "total": total, "depth": depth,
    }  # fmt: skip


@pytest.mark.usefixtures("lake")
def test_referrals_by_scope(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        own_name = session.scalar(select(Store.name).where(Store.store_id == OWN))

    hq = _get(client, "hq", "referrals")
    manager = _get(client, "manager", "referrals", limit=2)
    rep = _get(client, "rep", "referrals")
    before = _get(client, "hq", "referrals", as_of="2026-11-11")

    # CU0000006 → N2 → N3 in Guangdong's consumer group, CU0000012 → N4 in Zhejiang's, OWN →
    # N1 in the rep's store group; the names come from the master data (N… are unknown)
    cu6 = _referrer(1, "consumer", "CU0000006", "杨辉", 1, 2, 2)
    assert hq == {
        "as_of": "2026-11-23", "invitees": 4, "inviters": 4, "trees": 3, "max_depth": 2,
        "items": [
            cu6,
            _referrer(2, "consumer", "CU0000012", "林建国", 1, 1, 1),
            _referrer(3, "consumer", "N2", None, 1, 1, 1),
            _referrer(4, "store", OWN, own_name, 1, 1, 1),
        ],
    }  # fmt: skip
    assert manager == {
        "as_of": "2026-11-23", "invitees": 3, "inviters": 3, "trees": 2, "max_depth": 2,
        "items": [cu6, _referrer(2, "consumer", "N2", None, 1, 1, 1)],
    }  # fmt: skip
    only_own = [_referrer(1, "store", OWN, own_name, 1, 1, 1)]
    assert rep == {
        "as_of": "2026-11-23", "invitees": 1, "inviters": 1, "trees": 1, "max_depth": 1,
        "items": only_own,
    }  # fmt: skip
    assert before == {
        "as_of": "2026-11-11", "invitees": 1, "inviters": 1, "trees": 1, "max_depth": 1,
        "items": only_own,
    }  # fmt: skip


def test_analytics_of_an_empty_lake(client: TestClient) -> None:
    assert _get(client, "rep", "vip-candidates") == {
        "as_of": None, "share": 0.05, "total": 0, "items": [],
    }  # fmt: skip
    assert _get(client, "hq", "funnel") == {"as_of": None, "matrices": []}
    assert _get(client, "hq", "cohorts") == {"as_of": None, "cohorts": []}
    assert _get(client, "hq", "referrals")["items"] == []
    assert _get(client, "hq", "reach")["contents"] == []


@pytest.mark.usefixtures("lake")
def test_bad_parameters_are_named_and_any_day_answers(client: TestClient) -> None:
    headers = bearer(client, "hq")

    early = client.get("/api/v1/analytics/funnel", params={"as_of": "0001-01-02"}, headers=headers)
    malformed = client.get("/api/v1/analytics/reach", params={"as_of": "11/23"}, headers=headers)
    province = client.get(
        "/api/v1/analytics/vip-candidates", params={"province": "GD"}, headers=headers
    )
    machine = client.get("/api/v1/analytics/cohorts", headers={"Authorization": "Bearer x"})

    assert early.json() == {
        "as_of": "0001-01-02",
        "matrices": _funnel([0] * 5, [0] * 5),
    }
    assert malformed.status_code == 422
    assert malformed.json()["detail"].startswith("请求参数有误：query.as_of:")
    assert province.status_code == 422
    assert province.json()["detail"].startswith("请求参数有误：query.province:")
    assert machine.status_code == 401


# --- console ------------------------------------------------------------------------------


def _cells(page: str, attribute: str) -> dict[str, str]:
    return dict(re.findall(rf'{attribute}="([^"]+)"[^>]*>([^<]*)<', page))


@pytest.mark.usefixtures("lake")
def test_console_vip_page(client: TestClient, engine: Engine) -> None:
    console_login(client, "manager")

    page = client.get("/analytics/vip").text

    assert re.findall(r'<tr data-store="(\w+)"><td class="num">(\d+)</td>', page) == [
        (OTHER, "1"),
        (OWN, "2"),
    ]
    assert re.findall(r'data-in-vip="(\w+)"><span class="\w+">([^<]+)<', page) == [
        ("yes", "已在 VIP 群"),
        ("no", "待升入 VIP 群"),
    ]
    assert re.findall(r'data-value="(\d+)"', page) == [
        str(_purchase(engine, OTHER)),
        str(_purchase(engine, OWN) + ORDER_FEN),
    ]
    assert re.search(r'id="vip-count">(\d+)<', page).group(1) == "2"  # type: ignore[union-attr]
    assert re.search(r'id="vip-to-promote">(\d+)<', page).group(1) == "1"  # type: ignore[union-attr]
    assert 'data-province="440000"' in page
    assert FAR not in page


@pytest.mark.usefixtures("lake")
def test_console_funnel_and_cohort_pages(client: TestClient) -> None:
    console_login(client, "rep")

    funnel = client.get("/analytics/funnel").text
    cohorts = client.get("/analytics/cohorts").text

    store = re.search(r'<tr data-matrix="store">(.*?)</tr>', funnel).group(1)  # type: ignore[union-attr]
    counts = re.findall(r'data-step="(\w+)">(\d+)', store)
    assert counts == [
        ("acquired", "2"), ("activated", "1"), ("retained", "1"), ("revenue", "1"),
        ("referral", "1"),
    ]  # fmt: skip
    assert "50%" in store
    rows = re.findall(
        r'<tr data-cohort="([\d-]+)"><td class="date">[\d-]+</td><td class="num">(\d+)</td>(.*?)</tr>',
        cohorts,
    )
    assert [(week, members) for week, members, _ in rows] == [
        ("2026-11-02", "1"),
        ("2026-11-09", "1"),
    ]
    assert re.findall(r'data-active="(\d+)"', rows[0][2]) == ["1", "0", "0", "1"]
    assert re.findall(r">(\d+)%<", rows[0][2]) == ["100", "0", "0", "100"]


@pytest.mark.usefixtures("lake")
def test_console_reach_and_referral_pages(client: TestClient) -> None:
    console_login(client, "hq")

    reach = client.get("/analytics/reach").text
    referrals = client.get("/analytics/referrals").text
    client.get("/lang/en")
    english = client.get("/analytics/referrals").text

    assert _cells(reach, "data-tier-groups") == {"dealer": "14", "store": "9", "consumer": "7"}
    assert _cells(reach, "data-mean-share") == {
        "dealer": "7.1%",
        "store": "22.2%",
        "consumer": "14.3%",
    }
    assert _cells(reach, "data-mean-decay") == {"store": "-211.1%", "consumer": "35.7%"}
    assert re.findall(r'<tr data-member="([^"]+)"><td class="num">(\d+)</td>', referrals) == [
        ("consumer:CU0000006", "1"), ("consumer:CU0000012", "2"), ("consumer:N2", "3"),
        (f"store:{OWN}", "4"),
    ]  # fmt: skip
    assert re.search(r'id="max-depth">(\d+)<', referrals).group(1) == "2"  # type: ignore[union-attr]
    assert "Referral leaderboard" in english
    assert "推荐排行榜" in referrals


@pytest.mark.usefixtures("lake")
def test_console_reach_page_of_a_rep_marks_tiers_outside_his_scope(client: TestClient) -> None:
    console_login(client, "rep")

    page = client.get("/analytics/reach").text

    assert _cells(page, "data-tier-groups") == {"dealer": "0", "store": "1", "consumer": "0"}
    assert _cells(page, "data-share") == {"dealer": "—", "store": "100.0%", "consumer": "—"}
    assert _cells(page, "data-decay") == {"store": "—", "consumer": "—"}
    assert "你的范围内没有某一级的群" in page


def test_console_pages_of_an_empty_lake_say_so(client: TestClient) -> None:
    console_login(client, "rep")

    for tab in ("vip", "funnel", "cohorts", "reach", "referrals"):
        page = client.get(f"/analytics/{tab}").text
        assert 'id="no-activity"' in page, tab
        assert f'id="tab-{tab}" data-progress="#growth-progress" aria-current="page"' in page, tab


@pytest.mark.usefixtures("lake")
def test_plan_page_lists_dead_groups(client: TestClient, engine: Engine) -> None:
    # given the groups where customers spoke in the 90 days
    console_login(client, "hq")
    spoke = {"SG000001", "SG000002", "SG000004", "CG000005"}
    with unit_of_work(engine) as session:
        open_groups = set(
            session.scalars(select(Group.group_id).where(Group.archived_at.is_(None)))
        )

    # when HQ computes a plan in the console
    page = client.post("/plan/compute", data={"csrf_token": csrf_of(client, "/plan")}).text

    # then every other open group is listed as dead, with a link to it
    dead = re.findall(r'<tr data-dead="(\w+)"><td><a href="/groups/(\w+)">', page)
    assert sorted(group for group, _ in dead) == sorted(open_groups - spoke)
    assert all(group == link for group, link in dead)
    assert re.search(r'id="dead-count">(\d+)<', page).group(1) == str(len(open_groups - spoke))  # type: ignore[union-attr]
    assert "近 90 天无客户发言，建议合并或归档" in page


@pytest.mark.usefixtures("lake")
def test_hq_sees_exactly_the_figures_of_the_cli(
    client: TestClient, demo: Cli, tmp_path: Path
) -> None:
    # given the CLI's exports of the same lake
    exported = {}
    for name in ("vip-candidates", "funnel", "referrals"):
        demo("analytics", "export", name, "--out", tmp_path / f"{name}.csv", "--tenant", "demo")
        with (tmp_path / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
            exported[name] = list(csv.DictReader(handle))

    # when HQ reads the endpoints
    vip = _get(client, "hq", "vip-candidates")["items"]
    funnel = _get(client, "hq", "funnel")["matrices"]
    referrals = _get(client, "hq", "referrals")["items"]

    # then every row is the CLI's
    assert [
        (
            c["province_code"],
            str(c["rank"]),
            c["store_id"],
            str(c["value_fen"]),
            f"{c['score']:.2f}",
        )
        for c in vip
    ] == [
        (r["province_code"], r["rank"], r["store_id"], r["value_fen"], r["score"])
        for r in exported["vip-candidates"]
    ]
    assert [{k: str(v) for k, v in row.items()} for row in funnel] == exported["funnel"]
    assert [{k: str(v) for k, v in row.items() if k != "name"} for row in referrals] == exported[
        "referrals"
    ]
