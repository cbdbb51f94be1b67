"""Console analytics: groups by health, active-member trend, staff silence, member levels."""

from __future__ import annotations

import json
import re
from html import unescape

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from qunyun.analytics.staff_silence import seated_leaders
from qunyun.core.db import unit_of_work
from qunyun.org.access import Actor, access_tenant

from .conftest import bearer, console_login, store_groups_of


def _speakers(client: TestClient, group_id: str) -> list[str]:
    detail = client.get(f"/api/v1/groups/{group_id}", headers=bearer(client, "hq")).json()
    return sorted(m["id"] for m in detail["members"] if m["kind"] == "store")[:3]


def _feed(client: TestClient, engine: Engine) -> tuple[str, list[str], str]:
    """Post 8 days of talk by 3 stores in rep R0001's group, and one manager's message."""
    lively = store_groups_of(engine, "R0001")[0]
    speakers = _speakers(client, lively)
    with unit_of_work(engine) as session:
        tenant = access_tenant(session, Actor.operator(), "demo")
        leaders = seated_leaders(session, tenant)
    talker = leaders[0]
    events = [
        {
            "event_id": f"m-{day}-{store}",
            "ts": f"2026-11-{20 - day:02d}T10:00:00+08:00",
            "kind": "message",
            "group_id": lively,
            "member_kind": "store",
            "member_id": store,
        }
        for day in range(8)
        for store in speakers
    ]
    events.append(
        {
            "event_id": "boss-1",
            "ts": "2026-11-19T11:00:00+08:00",
            "kind": "message",
            "group_id": sorted(talker.groups)[0],
            "member_kind": "staff",
            "member_id": talker.staff_id,
        }
    )
    posted = client.post("/api/v1/events", json={"events": events}, headers=bearer(client, "hq"))
    assert posted.json()["accepted"] == 25
    return lively, speakers, talker.staff_id


def _health(html: str) -> dict[str, int]:
    return {
        status: int(count.replace(",", ""))
        for status, count in re.findall(r'data-health="(\w+)">([\d,]+)<', html)
    }


def _charts(html: str) -> list[dict[str, object]]:
    return [json.loads(unescape(option)) for option in re.findall(r'data-chart="([^"]+)"', html)]


def test_overview_without_events_says_so(client: TestClient) -> None:
    console_login(client, "hq")

    page = client.get("/").text

    assert 'id="no-activity"' in page
    assert "还没有群活动数据" in page


def test_hq_overview_shows_health_trend_and_silent_leaders(
    client: TestClient, engine: Engine
) -> None:
    # given a lively group and one leader who spoke once
    _, _, talker = _feed(client, engine)
    groups = client.get("/api/v1/groups", params={"limit": 500}, headers=bearer(client, "hq"))
    total = len(groups.json()["items"])
    console_login(client, "hq")

    # when HQ opens the overview
    page = client.get("/").text

    # then one group of all is active, the rest dead (staff talk does not count); the trend
    # holds 3 speakers a day and the leader on his day
    assert _health(page) == {"active": 1, "quiet": 0, "dormant": 0, "dead": total - 1}
    trend = _charts(page)[3]
    assert trend["series"][0]["data"][-8:] == [3, 3, 3, 3, 3, 3, 4, 3]  # type: ignore[index]
    assert trend["series"][0]["data"][:-8] == [0] * 82  # type: ignore[index]
    rows = re.findall(r'<tr data-staff="(\w+)"( class="error")?>', page)
    assert rows[-1] == (talker, "")
    assert {silent for _, silent in rows[:-1]} == {' class="error"'}


def test_rep_sees_only_his_groups_figures(client: TestClient, engine: Engine) -> None:
    _feed(client, engine)
    console_login(client, "rep")

    page = client.get("/").text

    assert _health(page) == {"active": 1, "quiet": 0, "dormant": 0, "dead": 0}
    assert "data-staff=" not in page
    assert "范围内没有在群的经理或总监" in page


def test_group_page_shows_health_activity_and_member_levels(
    client: TestClient, engine: Engine
) -> None:
    lively, speakers, _ = _feed(client, engine)
    console_login(client, "rep")

    page = client.get(f"/groups/{lively}").text
    client.get("/lang/en")
    english = client.get(f"/groups/{lively}").text

    assert 'data-health="active">活跃<' in page
    levels = dict(re.findall(r'<tr data-member="([^"]+)">.*?data-level="(\w+)"', page))
    assert {member for member, level in levels.items() if level == "active"} == set(speakers)
    assert {level for member, level in levels.items() if member not in speakers} == {"lurker"}
    activity = _charts(page)[0]
    assert activity["series"][0]["data"][-8:] == [3] * 8  # type: ignore[index]
    assert "Activity (last 90 days)" in english
    assert 'data-health="active">active<' in english
