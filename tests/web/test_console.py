"""The console through an HTTP client: login with CSRF, pages by scope, plan and handover forms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from qunyun.channel.models import Store
from qunyun.core.db import unit_of_work
from qunyun.demo.build import DEMO_PASSWORD
from qunyun.demo.generator import BRAND_NAME
from qunyun.groups.models import Group
from qunyun.org.models import Staff

from ..conftest import Cli
from .conftest import console_login, csrf_of, store_groups_of


def _figure(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]+)<', html)
    assert found is not None, element_id
    return found.group(1)


def test_login_needs_the_form_csrf_token_and_the_right_password(client: TestClient) -> None:
    token = csrf_of(client, "/login")
    form = {"tenant": "demo", "username": "rep", "password": DEMO_PASSWORD, "next": "/matrix"}

    forged = client.post("/login", data=form, follow_redirects=False)
    wrong = client.post("/login", data={**form, "csrf_token": token, "password": "nope"})
    right = client.post("/login", data={**form, "csrf_token": token}, follow_redirects=False)

    assert forged.status_code == 403
    assert "CSRF 校验失败" in forged.text
    assert wrong.status_code == 200
    assert "租户、用户名或密码不正确" in wrong.text
    assert (right.status_code, right.headers["location"]) == (303, "/matrix")
    assert "qunyun_session" in right.cookies


def test_rep_overview_and_matrix_show_his_territory(client: TestClient, engine: Engine) -> None:
    console_login(client, "rep")
    with unit_of_work(engine) as session:
        active = session.scalar(
            select(func.count())
            .select_from(Store)
            .where(Store.rep_id == "R0001", Store.status == "active")
        )
    own = store_groups_of(engine, "R0001")

    overview = client.get("/").text
    matrix = client.get("/matrix").text

    assert _figure(overview, "active-stores") == f"{active:,}"
    assert _figure(overview, "coverage-share") == "100.0%"
    assert re.findall(r'class="gid">([A-Z]+\d+)<', matrix) == own


def test_matrix_lists_regions_and_loads_one_when_opened(client: TestClient, engine: Engine) -> None:
    console_login(client, "hq")

    page = client.get("/matrix").text
    guangdong = client.get("/matrix/440000", headers={"HX-Request": "true"}).text
    nowhere = client.get("/matrix/110000").text

    with unit_of_work(engine) as session:
        in_guangdong = sorted(
            session.scalars(
                select(Group.group_id).where(
                    Group.region_code == "440000", Group.archived_at.is_(None)
                )
            )
        )
    assert re.findall(r'id="region-(\w+)"', page) == ["330000", "410000", "440000", "510000"]
    assert re.findall(r'class="gid">', page) == []
    assert sorted(re.findall(r'class="gid">(\w+)<', guangdong)) == in_guangdong
    assert "你的范围内还没有社群" in nowhere


def test_group_page_shows_members_seats_and_breaches(client: TestClient, engine: Engine) -> None:
    console_login(client, "hq")
    group_id = store_groups_of(engine, "R0001")[0]

    page = client.get(f"/groups/{group_id}")

    assert page.status_code == 200
    assert "符合全部规则" in page.text
    assert ">R0001<" in page.text
    assert f'<span data-owner="demo">{BRAND_NAME}（demo）</span> · 公司账号' in page.text


def test_group_page_shows_a_staff_owner_and_no_owner(client: TestClient, engine: Engine) -> None:
    # given a store group that a staff member owns, and another with no owner recorded
    console_login(client, "hq")
    owned, unowned = store_groups_of(engine, "R0001")[:1] + store_groups_of(engine, "R0002")[:1]
    with unit_of_work(engine) as session:
        session.execute(update(Group).where(Group.group_id == owned).values(owner_id="R0001"))
        session.execute(update(Group).where(Group.group_id == unowned).values(owner_id=None))
        rep_name = session.scalars(select(Staff.name).where(Staff.staff_id == "R0001")).one()

    # when their pages are read
    by_person = client.get(f"/groups/{owned}").text
    by_nobody = client.get(f"/groups/{unowned}").text

    # then the first names the person, not the company account; the second says none
    assert f'<span data-owner="R0001">{rep_name}（R0001）</span> · 不是公司账号' in by_person
    assert '<p class="muted" id="owner">群主: 未记录</p>' in by_nobody


def test_english_switch_changes_the_texts(client: TestClient) -> None:
    console_login(client, "rep")

    switched = client.get("/lang/en?next=/matrix", follow_redirects=False)
    english = client.get("/matrix").text
    client.get("/lang/zh")
    chinese = client.get("/matrix").text

    assert (switched.status_code, switched.headers["location"]) == (303, "/matrix")
    assert "<h1>Matrix" in english
    assert "<h1>社群矩阵" in chinese


def test_hq_computes_and_applies_the_plan_from_the_console(client: TestClient) -> None:
    console_login(client, "hq")
    csrf = csrf_of(client, "/plan")

    without_token = client.post("/plan/compute")
    computed = client.post("/plan/compute", data={"csrf_token": csrf})
    applied = client.post("/plan/apply", headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    nothing_left = client.post("/plan/apply", data={"csrf_token": csrf})

    assert without_token.status_code == 403
    assert 'id="plan-message">计划已计算<' in computed.text
    assert 'id="plan-summary"' in computed.text
    assert 'id="plan-message">计划已应用<' in applied.text
    assert 'id="no-pending"' in applied.text
    assert "没有待应用的计划" in nothing_left.text


def test_analyst_reads_the_plan_but_may_not_apply_it(client: TestClient) -> None:
    console_login(client, "analyst")
    csrf = csrf_of(client, "/plan")

    page = client.get("/plan")
    refused = client.post("/plan/apply", data={"csrf_token": csrf})

    assert page.status_code == 200
    assert 'id="compute-plan"' not in page.text
    assert refused.status_code == 403
    assert "只有总部管理员可以计算和应用社群矩阵计划" in refused.text


def test_supervisor_hands_a_rep_over_in_the_console(client: TestClient, engine: Engine) -> None:
    console_login(client, "supervisor")
    own = store_groups_of(engine, "R0001")
    theirs = store_groups_of(engine, "R0002")
    form = client.get("/handover").text
    csrf = csrf_of(client, "/handover")

    done = client.post("/handover", data={"csrf_token": csrf, "from_id": "R0001", "to_id": "R0002"})
    refused = client.post(
        "/handover", data={"csrf_token": csrf, "from_id": "R0002", "to_id": "S001"}
    )

    assert re.findall(r'<option value="(R\d+)"', form) == ["R0001", "R0002", "R0003"] * 2
    assert 'id="handover-report"' in done.text
    assert store_groups_of(engine, "R0001") == []
    assert store_groups_of(engine, "R0002") == sorted(own + theirs)
    assert "只能交接给同一角色的人" in refused.text


def test_overviews_kept_per_scope_follow_a_handover(client: TestClient, engine: Engine) -> None:
    def active(*reps: str) -> str:
        with unit_of_work(engine) as session:
            count = session.scalar(
                select(func.count())
                .select_from(Store)
                .where(Store.rep_id.in_(reps), Store.status == "active")
            )
        return f"{count:,}"

    team = ("R0001", "R0002", "R0003")
    own_before, team_before = active("R0001"), active(*team)
    console_login(client, "rep")
    rep_before = _figure(client.get("/").text, "active-stores")
    console_login(client, "supervisor")
    supervisor_before = _figure(client.get("/").text, "active-stores")
    csrf = csrf_of(client, "/handover")
    client.post("/handover", data={"csrf_token": csrf, "from_id": "R0001", "to_id": "R0002"})
    supervisor_after = _figure(client.get("/").text, "active-stores")
    console_login(client, "rep")
    rep_after = _figure(client.get("/").text, "active-stores")

    assert own_before != "0"
    assert (rep_before, rep_after) == (own_before, "0")
    assert (supervisor_before, supervisor_after) == (team_before, active(*team))


def test_a_person_who_left_is_logged_out(client: TestClient, demo: Cli) -> None:
    console_login(client, "rep")
    demo("staff", "leave", "R0001", "--tenant", "demo")

    page = client.get("/", follow_redirects=False)

    assert (page.status_code, page.headers["location"]) == (303, "/login?next=/")


def test_logout_ends_the_session(client: TestClient) -> None:
    console_login(client, "hq")
    csrf = csrf_of(client)

    client.post("/logout", data={"csrf_token": csrf})
    page = client.get("/matrix", follow_redirects=False)

    assert (page.status_code, page.headers["location"]) == (303, "/login?next=/matrix")


def test_session_cookie_is_http_only_and_same_site_strict(client: TestClient) -> None:
    token = csrf_of(client, "/login")

    response = client.post(
        "/login",
        data={"csrf_token": token, "tenant": "demo", "username": "hq", "password": DEMO_PASSWORD},
        follow_redirects=False,
    )

    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_console_login_is_throttled_like_the_api(client: TestClient) -> None:
    token = csrf_of(client, "/login")
    form = {"csrf_token": token, "tenant": "demo", "username": "rep", "password": "wrong-pass"}

    for _ in range(5):
        client.post("/login", data=form)
    locked = client.post("/login", data={**form, "password": DEMO_PASSWORD})

    assert locked.status_code == 200
    assert "登录失败次数过多，账号已锁定，请 15 分钟后再试" in locked.text


def test_redirects_stay_on_this_site(client: TestClient) -> None:
    targets = ["https://evil.example/", "//evil.example/", "/\\evil.example/", "/matrix"]

    locations = [
        client.get("/lang/en", params={"next": target}, follow_redirects=False).headers["location"]
        for target in targets
    ]

    assert locations == ["/", "/", "/", "/matrix"]
