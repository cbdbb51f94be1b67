"""Group health in ``GET /api/v1/groups`` and ``GET /api/v1/groups/{id}``, from the lake."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from qunyun.analytics import figures

from .conftest import bearer, store_groups_of


def talk(group_id: str, days: int, speakers: int, kind: str = "store") -> list[dict[str, object]]:
    """Return messages in a group: each speaker once a day on ``days`` days up to 2026-11-20."""
    return [
        {
            "event_id": f"{group_id}-{kind}-{day}-{speaker}",
            "ts": f"2026-11-{20 - day:02d}T10:00:00+08:00",
            "kind": "message",
            "group_id": group_id,
            "member_kind": kind,
            "member_id": f"{kind}-{speaker}",
        }
        for day in range(days)
        for speaker in range(speakers)
    ]


def test_health_is_null_on_an_empty_lake(client: TestClient) -> None:
    page = client.get("/api/v1/groups", headers=bearer(client, "hq")).json()

    assert {item["health"] for item in page["items"]} == {None}


def test_groups_carry_their_health_within_the_scope(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a lively group (rep R0001's), a group where only staff talk, and a silent one
    lively = store_groups_of(engine, "R0001")[0]
    staff_only, silent = store_groups_of(engine, "R0002")[0], store_groups_of(engine, "R0003")[0]
    hq = bearer(client, "hq")
    events = talk(lively, days=8, speakers=3) + talk(staff_only, days=10, speakers=1, kind="staff")
    posted = client.post("/api/v1/events", json={"events": events}, headers=hq)
    assert posted.json()["accepted"] == 34
    computed = []
    real = figures._compute
    monkeypatch.setattr(figures, "_compute", lambda *args: computed.append(args[1]) or real(*args))

    # when HQ lists the groups twice, and the rep lists his and opens the lively one
    items = client.get("/api/v1/groups", params={"limit": 500}, headers=hq).json()["items"]
    again = client.get("/api/v1/groups", params={"limit": 500}, headers=hq).json()["items"]
    rep = bearer(client, "rep")
    own = client.get("/api/v1/groups", headers=rep).json()["items"]
    detail = client.get(f"/api/v1/groups/{lively}", headers=rep).json()

    # then each group has its status, computed once for the lake's version
    health = {item["id"]: item["health"] for item in items}
    assert health[lively] == {
        "status": "active",
        "trend": "up",
        "customer_messages": 24,
        "customer_senders": 3,
        "active_days": 8,
        "staff_messages": 0,
        "last_customer_message": "2026-11-20",
        "as_of": "2026-11-20",
    }
    assert health[staff_only]["status"] == "dead"
    assert health[staff_only]["staff_messages"] == 10
    assert health[silent]["status"] == "dead"
    assert {h["status"] for g, h in health.items() if g != lively} == {"dead"}
    assert again == items
    assert [(item["id"], item["health"]) for item in own] == [(lively, health[lively])]
    assert detail["health"] == health[lively]
    assert len(computed) == 1
