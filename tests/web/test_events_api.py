"""``POST /api/v1/events``: machines feed the event lake, idempotently, with reasons for rejects."""

from __future__ import annotations

from fastapi.testclient import TestClient

from qunyun.analytics.group_daily import group_daily_rows
from qunyun.analytics.lake import open_lake
from qunyun.core.db import unit_of_work
from qunyun.core.settings import get_settings
from qunyun.events.actions import tenant_lake
from qunyun.org.access import Actor, access_tenant

from ..conftest import Cli
from .conftest import bearer


def _machine(demo: Cli, scope: str = "events:write") -> dict[str, str]:
    token = demo("token", "create", "-t", "demo", "--name", "feed", "--scope", scope)
    return {"Authorization": f"Bearer {token.stdout.strip()}"}


def _message(event_id: str, group_id: str = "SG000001", member_id: str = "ST00001") -> dict:
    return {
        "event_id": event_id,
        "ts": "2026-11-20T09:30:00+08:00",
        "kind": "message",
        "group_id": group_id,
        "member_kind": "store",
        "member_id": member_id,
        "msg_type": "text",
        "length": 12,
    }


def _group_daily(engine: object) -> list[tuple[object, ...]]:
    with unit_of_work(engine) as session:  # type: ignore[arg-type]
        tenant = access_tenant(session, Actor.operator(), "demo")
        lake = tenant_lake(tenant, get_settings().home / "lake")
    return list(group_daily_rows(open_lake(lake)))


def test_integration_token_adds_events_and_a_repeat_is_a_duplicate(
    client: TestClient, demo: Cli, engine: object
) -> None:
    # given a machine with the events:write scope
    headers = _machine(demo)
    batch = {"events": [_message("e1"), _message("e2", member_id="ST00002"), _message("e1")]}

    # when it posts the batch twice
    first = client.post("/api/v1/events", json=batch, headers=headers)
    second = client.post("/api/v1/events", json=batch, headers=headers)

    # then the first stores two events (the repeated id once), the second none
    assert (first.status_code, first.json()) == (
        202,
        {"accepted": 2, "duplicates": 1, "rejected": []},
    )
    assert (second.status_code, second.json()) == (
        202,
        {"accepted": 0, "duplicates": 3, "rejected": []},
    )
    assert _group_daily(engine) == [("2026-11-20", "SG000001", 2, 2, 0, 2, 0, 0)]


def test_invalid_events_are_listed_by_index_and_the_rest_stored(
    client: TestClient, demo: Cli, engine: object
) -> None:
    headers = _machine(demo)
    bad_kind = _message("e2") | {"kind": "shout"}
    no_time = _message("e3") | {"ts": "yesterday"}

    response = client.post(
        "/api/v1/events", json={"events": [_message("e1"), bad_kind, no_time]}, headers=headers
    )

    body = response.json()
    assert response.status_code == 202
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    assert [item["index"] for item in body["rejected"]] == [1, 2]
    assert "shout" in body["rejected"][0]["reason"]
    assert _group_daily(engine) == [("2026-11-20", "SG000001", 1, 1, 0, 1, 0, 0)]


def test_hq_may_post_events_other_people_and_other_scopes_may_not(
    client: TestClient, demo: Cli
) -> None:
    batch = {"events": [_message("e1")]}
    hq = client.post("/api/v1/events", json=batch, headers=bearer(client, "hq"))
    statuses = [
        client.post("/api/v1/events", json=batch, headers=headers).status_code
        for headers in (
            bearer(client, "rep"),
            bearer(client, "analyst"),
            bearer(client, "manager"),
        )
    ]
    anonymous = client.post("/api/v1/events", json=batch)

    assert (hq.status_code, hq.json()["accepted"]) == (202, 1)
    assert statuses == [403, 403, 403]
    assert anonymous.status_code == 401
    assert client.post("/api/v1/events", json=batch, headers=bearer(client, "rep")).json() == {
        "detail": "需要权限范围 events:write"
    }


def test_malformed_bodies_are_4xx_with_a_message(client: TestClient, demo: Cli) -> None:
    headers = _machine(demo)
    cases = [
        {"content": b"{oops", "headers": headers | {"content-type": "application/json"}},
        {"json": {"records": []}, "headers": headers},
        {"json": {"events": "e1"}, "headers": headers},
        {"json": {"events": [1, 2]}, "headers": headers},
        {"json": {"events": [_message(f"e{i}") for i in range(10_001)]}, "headers": headers},
    ]

    responses = [client.post("/api/v1/events", **case) for case in cases]  # type: ignore[arg-type]

    assert [r.status_code for r in responses] == [422, 422, 422, 422, 422]
    assert all(r.json()["detail"].startswith("请求参数有误") for r in responses)


def test_empty_batch_adds_nothing(client: TestClient, demo: Cli) -> None:
    response = client.post("/api/v1/events", json={"events": []}, headers=_machine(demo))

    assert (response.status_code, response.json()) == (
        202,
        {"accepted": 0, "duplicates": 0, "rejected": []},
    )
