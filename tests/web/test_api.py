"""The REST API through an HTTP client: tokens, pages of groups and stores, plans, handover."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update

from qunyun.channel.models import Store, StoreStatus
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.demo.build import DEMO_PASSWORD
from qunyun.demo.generator import BRAND_NAME
from qunyun.groups.models import Group, Membership
from qunyun.org.models import Account, Staff

from ..conftest import Cli
from .conftest import bearer, store_groups_of


def _export(cli: Cli, tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "export.csv"
    cli("plan", "export", "--tenant", "demo", "--out", path)
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _all_groups(client: TestClient, headers: dict[str, str], limit: int) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/api/v1/groups", params=params, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_token_for_good_credentials_and_401_for_bad(client: TestClient) -> None:
    good = client.post(
        "/api/v1/auth/token",
        json={"tenant": "demo", "username": "hq", "password": DEMO_PASSWORD},
    )
    wrong_password = client.post(
        "/api/v1/auth/token", json={"tenant": "demo", "username": "hq", "password": "nope"}
    )
    unknown_user = client.post(
        "/api/v1/auth/token", json={"tenant": "demo", "username": "ghost", "password": "x"}
    )
    other_tenant = client.post(
        "/api/v1/auth/token",
        json={"tenant": "acme", "username": "hq", "password": DEMO_PASSWORD},
    )

    assert good.status_code == 200
    assert set(good.json()) == {"access_token", "token_type"}
    assert good.json()["token_type"] == "bearer"
    for refused in (wrong_password, unknown_user, other_tenant):
        assert refused.status_code == 401
        assert refused.json() == {"detail": "租户、用户名或密码不正确"}


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(
    client: TestClient, engine: Engine
) -> None:
    wrong = {"tenant": "demo", "username": "rep", "password": "wrong-password"}
    right = {"tenant": "demo", "username": "rep", "password": DEMO_PASSWORD}

    statuses = [client.post("/api/v1/auth/token", json=wrong).status_code for _ in range(5)]
    locked = client.post("/api/v1/auth/token", json=right)
    with unit_of_work(engine) as session:
        session.execute(
            update(Account)
            .where(Account.username == "rep")
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
    unlocked = client.post("/api/v1/auth/token", json=right)

    assert statuses == [401, 401, 401, 401, 401]
    assert locked.status_code == 429
    assert locked.json() == {"detail": "登录失败次数过多，账号已锁定，请 15 分钟后再试"}
    assert unlocked.status_code == 200


def test_requests_without_a_good_token_are_401(client: TestClient) -> None:
    missing = client.get("/api/v1/groups")
    forged = client.get("/api/v1/groups", headers={"Authorization": "Bearer abc.def.ghi"})
    basic = client.get("/api/v1/groups", headers={"Authorization": "Basic aGk6aGk="})

    assert missing.status_code == forged.status_code == basic.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json() == {"detail": "需要登录：请求头 Authorization: Bearer <token>"}
    assert forged.json() == {"detail": "令牌无效或已过期，请重新获取"}


def test_hq_pages_through_every_open_group_once(
    client: TestClient, demo: Cli, tmp_path: Path
) -> None:
    exported = {row["group_id"] for row in _export(demo, tmp_path)}

    items = _all_groups(client, bearer(client, "hq"), limit=7)

    assert [item["id"] for item in items] == sorted(exported)
    assert {key for item in items for key in item} == {
        "id",
        "name",
        "matrix",
        "territory_rep_id",
        "member_count",
        "health",
    }
    assert {item["health"] for item in items} == {None}


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(min_value=1, max_value=40))
def test_pages_of_any_size_concatenate_to_the_whole_list(client: TestClient, limit: int) -> None:
    headers = bearer(client, "analyst")
    whole = client.get("/api/v1/groups", params={"limit": 500}, headers=headers).json()

    paged = _all_groups(client, headers, limit)

    assert whole["next_cursor"] is None
    assert paged == whole["items"]


def test_rep_sees_exactly_his_territory(
    client: TestClient, engine: Engine, demo: Cli, tmp_path: Path
) -> None:
    rows = _export(demo, tmp_path)
    own = store_groups_of(engine, "R0001")
    headers = bearer(client, "rep")

    groups = _all_groups(client, headers, limit=50)
    detail = client.get(f"/api/v1/groups/{own[0]}", headers=headers).json()
    stores = client.get("/api/v1/stores", params={"limit": 500}, headers=headers).json()

    assert [group["id"] for group in groups] == own
    assert {group["territory_rep_id"] for group in groups} == {"R0001"}
    members = {
        (row["member_kind"], row["member_id"], row["member_role"])
        for row in rows
        if row["group_id"] == own[0]
    }
    assert {(m["kind"], m["id"], m["role"]) for m in detail["members"]} | {
        (s["kind"], s["id"], s["role"]) for s in detail["staff_seats"]
    } == members
    assert detail["member_count"] == len(members)
    assert {seat["kind"] for seat in detail["staff_seats"]} == {"staff"}
    assert detail["breaches"] == []
    with unit_of_work(engine) as session:
        territory = sorted(session.scalars(select(Store.store_id).where(Store.rep_id == "R0001")))
    assert [store["id"] for store in stores["items"]] == territory
    assert stores["next_cursor"] is None


def test_a_groups_detail_names_its_owner_company_staff_unknown_or_none(
    client: TestClient, engine: Engine
) -> None:
    # given a store group of the demo, owned by the company account (the tenant's slug)
    group_id = store_groups_of(engine, "R0001")[0]
    headers = bearer(client, "hq")

    def owner(owner_id: str | None) -> object:
        with unit_of_work(engine) as session:
            session.execute(
                update(Group).where(Group.group_id == group_id).values(owner_id=owner_id)
            )
        response = client.get(f"/api/v1/groups/{group_id}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["owner"]

    # when the owner is the company account, a staff member, an account Qunyun does not know,
    # and nobody; then the detail names each (the company by the brand's name), null for none
    company = client.get(f"/api/v1/groups/{group_id}", headers=headers).json()["owner"]
    with unit_of_work(engine) as session:
        rep_name = session.scalars(select(Staff.name).where(Staff.staff_id == "R0001")).one()
    assert company == {"id": "demo", "name": BRAND_NAME, "is_company": True}
    assert owner("R0001") == {"id": "R0001", "name": rep_name, "is_company": False}
    assert owner("wx-somebody") == {"id": "wx-somebody", "name": None, "is_company": False}
    assert owner(None) is None


def test_out_of_scope_and_missing_objects_answer_the_same_404(
    client: TestClient, engine: Engine
) -> None:
    foreign = store_groups_of(engine, "R0002")[0]
    headers = bearer(client, "rep")

    hidden = client.get(f"/api/v1/groups/{foreign}", headers=headers)
    missing = client.get("/api/v1/groups/SG999999", headers=headers)
    visible = client.get(f"/api/v1/groups/{foreign}", headers=bearer(client, "hq"))

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {"detail": f"没有社群 {foreign}"}
    assert missing.json() == {"detail": "没有社群 SG999999"}
    assert visible.status_code == 200


def test_another_tenant_sees_nothing_of_the_demo(
    client: TestClient, engine: Engine, demo: Cli
) -> None:
    demo("tenant", "create", "acme", "--name", "另一个品牌")
    demo(
        "user", "create", "-t", "acme", "--username", "boss",
        "--password", DEMO_PASSWORD, "--role", "hq_admin",
    )  # fmt: skip
    headers = bearer(client, "boss", tenant="acme")

    groups = client.get("/api/v1/groups", headers=headers).json()
    one = client.get(f"/api/v1/groups/{store_groups_of(engine, 'R0001')[0]}", headers=headers)
    coverage = client.get("/api/v1/coverage", headers=headers).json()

    assert groups == {"items": [], "next_cursor": None}
    assert one.status_code == 404
    assert (coverage["active_stores"], coverage["by_region"]) == (0, {})


def test_malformed_requests_are_4xx_with_a_message(client: TestClient) -> None:
    headers = bearer(client, "hq")

    long_cursor = client.get("/api/v1/groups", params={"cursor": "x" * 65}, headers=headers)
    bad_cursor = client.get(
        "/api/v1/plans/pending/changes", params={"cursor": "abc"}, headers=headers
    )
    zero = client.get("/api/v1/groups", params={"limit": 0}, headers=headers)
    text_limit = client.get("/api/v1/groups", params={"limit": "ten"}, headers=headers)
    not_json = client.post(
        "/api/v1/auth/token", content=b"{oops", headers={"content-type": "application/json"}
    )
    extra = client.post(
        "/api/v1/handovers", json={"from": "R0001", "to": "R0002", "x": 1}, headers=headers
    )
    unknown = client.get("/api/v1/nothing-here", headers=headers)
    wrong_method = client.delete("/api/v1/groups", headers=headers)

    assert long_cursor.status_code == 422
    assert long_cursor.json() == {
        "detail": "请求参数有误：query.cursor: String should have at most 64 characters"
    }
    assert bad_cursor.status_code == 422
    assert bad_cursor.json() == {
        "detail": "请求参数有误：query.cursor: String should match pattern '^[0-9]{1,18}$'"
    }
    assert zero.status_code == 422
    assert zero.json() == {
        "detail": "请求参数有误：query.limit: Input should be greater than or equal to 1"
    }
    assert text_limit.status_code == 422
    assert not_json.status_code == 422
    assert extra.status_code == 422
    assert extra.json() == {"detail": "请求参数有误：x: Extra inputs are not permitted"}
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "没有这个地址"}
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "不支持这种请求方法"}


def test_hq_computes_reviews_and_applies_a_plan(
    client: TestClient, engine: Engine, demo: Cli, tmp_path: Path
) -> None:
    # given a store closed since the matrix was applied
    headers = bearer(client, "hq")
    with unit_of_work(engine) as session:
        session.execute(
            update(Store)
            .where(Store.store_id == "ST0000003")
            .values(status=StoreStatus.CLOSED, updated_at=utcnow())
        )

    # when HQ plans, reads the diff and applies it
    none_yet = client.get("/api/v1/plans/pending", headers=headers)
    computed = client.post("/api/v1/plans", headers=headers)
    pending = client.get("/api/v1/plans/pending", headers=headers)
    changes = client.get("/api/v1/plans/pending/changes", headers=headers)
    applied = client.post("/api/v1/plans/pending/apply", headers=headers)
    again = client.post("/api/v1/plans/pending/apply", headers=headers)

    # then the store left its group, and there is nothing left to apply
    assert none_yet.status_code == 404
    assert none_yet.json() == {"detail": "没有待应用的计划：请先运行 qunyun plan"}
    assert computed.status_code == 201
    assert computed.json()["status"] == "pending"
    assert computed.json()["computed_by"] == "web:hq"
    assert pending.json() == computed.json()
    assert computed.json()["summary"] == [
        {
            "matrix": "store",
            "region": "河南省",
            "groups_created": 0,
            "groups_archived": 0,
            "groups_merged": 0,
            "members_added": 0,
            "members_removed": 1,
            "members_moved": 0,
            "staff_seats_added": 0,
            "staff_seats_removed": 0,
        }
    ]
    assert [
        (change["kind"], change["member_ids"])
        for change in changes.json()["items"]
        if change["member_kind"] == "store"
    ] == [("leave", ["ST0000003"])]
    assert changes.json()["next_cursor"] is None
    assert applied.status_code == 200
    assert (applied.json()["status"], applied.json()["applied_by"]) == ("applied", "web:hq")
    assert again.status_code == 404
    assert "ST0000003" not in {row["member_id"] for row in _export(demo, tmp_path)}


def test_applied_plans_and_a_groups_history_read_back(client: TestClient, engine: Engine) -> None:
    # given the demo's applied plan #1, then a store closed and the plan of it applied
    headers = bearer(client, "hq")
    with unit_of_work(engine) as session:
        group_id = session.scalars(
            select(Membership.group_id).where(
                Membership.member_id == "ST0000003",
                Membership.left_at.is_(None),
                Membership.group_id.like("SG%"),  # its store group
            )
        ).one()
        session.execute(
            update(Store)
            .where(Store.store_id == "ST0000003")
            .values(status=StoreStatus.CLOSED, updated_at=utcnow())
        )
    client.post("/api/v1/plans", headers=headers)
    pending = client.get("/api/v1/plans/pending/changes", headers=headers).json()
    applied = client.post("/api/v1/plans/pending/apply", headers=headers).json()

    # when the plans, the applied plan's diff and the group's history are read
    plans = client.get("/api/v1/plans", params={"limit": 1}, headers=headers).json()
    older = client.get(
        "/api/v1/plans", params={"cursor": plans["next_cursor"]}, headers=headers
    ).json()
    one = client.get(f"/api/v1/plans/{applied['id']}", headers=headers)
    changes = client.get(f"/api/v1/plans/{applied['id']}/changes", headers=headers)
    missing = client.get("/api/v1/plans/999", headers=headers)
    history = client.get(f"/api/v1/groups/{group_id}/history", headers=headers).json()

    # then the newest plan comes first, and its diff is what was pending
    assert plans["items"] == [applied]
    assert [(p["id"], p["status"], p["computed_by"]) for p in older["items"]] == [
        (applied["id"] - 1, "applied", "demo")
    ]
    assert older["next_cursor"] is None
    assert one.json() == applied
    assert changes.json() == pending
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "没有计划 #999：qunyun plan history 列出全部计划"},
    )
    # and the group keeps the closed store's stay, with when it left
    stays = [s for s in history["stays"] if s["id"] == "ST0000003"]
    assert [(s["kind"], s["role"], s["left_at"] is not None) for s in stays] == [
        ("store", "customer", True)
    ]
    assert history["id"] == group_id
    assert [s["joined_at"] for s in history["stays"]] == sorted(
        s["joined_at"] for s in history["stays"]
    )


def test_apply_refuses_when_the_channel_changed(client: TestClient, engine: Engine) -> None:
    headers = bearer(client, "hq")
    client.post("/api/v1/plans", headers=headers)
    with unit_of_work(engine) as session:
        session.execute(
            update(Store).where(Store.store_id == "ST0000005").values(updated_at=utcnow())
        )

    refused = client.post("/api/v1/plans/pending/apply", headers=headers)

    assert refused.status_code == 409
    assert refused.json()["detail"].endswith("未应用：请重新运行 qunyun plan")


def test_supervisor_hands_over_within_his_team_only(client: TestClient, engine: Engine) -> None:
    headers = bearer(client, "supervisor")
    own_groups = store_groups_of(engine, "R0001")

    moved = client.post("/api/v1/handovers", json={"from": "R0001", "to": "R0002"}, headers=headers)
    foreign = client.post(
        "/api/v1/handovers", json={"from": "R0002", "to": "R0004"}, headers=headers
    )
    rep = client.post(
        "/api/v1/handovers", json={"from": "R0002", "to": "R0003"}, headers=bearer(client, "rep")
    )
    audit = client.get("/api/v1/audit", headers=headers)

    assert moved.status_code == 200
    assert moved.json()["groups"] == len(own_groups)
    assert moved.json()["reports"] == 0
    assert store_groups_of(engine, "R0001") == []
    assert foreign.status_code == 404
    assert foreign.json() == {"detail": "没有员工 'R0004'"}
    assert rep.status_code == 403
    assert rep.json() == {"detail": "只有总部管理员、经理和主管可以办理交接"}
    assert audit.json() == {"breaches": []}


def test_integration_token_reads_nothing(client: TestClient, demo: Cli) -> None:
    token = demo(
        "token", "create", "-t", "demo", "--name", "erp", "--scope", "events:write"
    ).stdout.strip()

    groups = client.get("/api/v1/groups", headers={"Authorization": f"Bearer {token}"})

    assert token.startswith("qyt_")
    assert groups.status_code == 403
    assert groups.json() == {"detail": "集成令牌不能读取业务数据，请用账号登录"}


def test_analyst_reads_everything_but_changes_nothing(client: TestClient) -> None:
    headers = bearer(client, "analyst")

    plan = client.post("/api/v1/plans", headers=headers)
    handover = client.post(
        "/api/v1/handovers", json={"from": "R0001", "to": "R0002"}, headers=headers
    )
    pending = client.get("/api/v1/plans/pending", headers=headers)

    assert plan.status_code == 403
    assert plan.json() == {"detail": "只有总部管理员可以计算和应用社群矩阵计划"}
    assert handover.status_code == 403
    assert pending.status_code == 404  # may read plans; there is none pending


def test_password_reset_disable_and_revoke_end_access_at_once(
    client: TestClient, demo: Cli
) -> None:
    rep = bearer(client, "rep")
    analyst = bearer(client, "analyst")
    token = demo("token", "create", "-t", "demo", "--name", "erp", "--scope", "events:write")
    machine = {"Authorization": f"Bearer {token.stdout.strip()}"}

    demo("user", "password", "-t", "demo", "--username", "rep", "--password", "new-password")
    demo("user", "disable", "-t", "demo", "--username", "analyst")
    demo("token", "revoke", "-t", "demo", "--name", "erp")
    again = demo("token", "revoke", "-t", "demo", "--name", "erp", expect=1)
    listing = demo("user", "list", "-t", "demo").output

    assert client.get("/api/v1/me", headers=rep).status_code == 401
    assert client.get("/api/v1/me", headers=analyst).status_code == 401
    assert client.get("/api/v1/me", headers=machine).status_code == 401
    relogin = client.post(
        "/api/v1/auth/token",
        json={"tenant": "demo", "username": "rep", "password": "new-password"},
    )
    assert relogin.status_code == 200
    assert again.stderr.startswith("错误：令牌 'erp' 已于 ")
    assert "│ analyst " in listing
    assert "停用" in listing
    demo("user", "enable", "-t", "demo", "--username", "analyst")
    assert client.get("/api/v1/me", headers=analyst).status_code == 200
