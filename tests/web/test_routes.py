"""Every route of the app, called anonymously and by outsiders: no data leaks.

The table below must list every route; a new route fails the test until it says what an
anonymous caller, a rep of another territory and the HQ of another tenant get.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from starlette.routing import Mount

from qunyun.activation.orderlists import (
    ListItem,
    do_add_line,
    do_cutoff,
    do_open_order_list,
    latest_cutoff,
)
from qunyun.channel.models import ContactKind, Store
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.demo.build import DEMO_PASSWORD
from qunyun.events.actions import do_ingest_events
from qunyun.groups.models import Membership, PlanRevision
from qunyun.org.access import Actor, access_tenant
from qunyun.web.deps import api_member

from ..conftest import Cli
from .activation_helpers import (
    activation_bodies,
    foreign_activation,
    member_headers,
    stores_of_group,
)
from .conftest import bearer, console_login, csrf_of, store_groups_of

ACTIVATION_BODIES: dict[str, dict[str, object]] = {}
"""Bodies of the activation POSTs, aimed at the other territory's group (filled by the test)."""

ACTIVATION_ID = re.compile(r"\{(packet|sale|deal|list|team|draw|relay)_id\}")
"""Path parameters of activation objects (numeric ids)."""

LOGIN = "login"
"""A console page that sends an anonymous caller to the login form (303)."""

# (method, path): (anonymous, out-of-scope rep R0001, HQ of another tenant)
EXPECTED: dict[tuple[str, str], tuple[int | str, int, int]] = {
    ("POST", "/api/v1/auth/token"): (401, 401, 401),
    ("GET", "/api/v1/me"): (401, 200, 200),
    ("GET", "/api/v1/groups"): (401, 200, 200),
    ("GET", "/api/v1/groups/{group_id}"): (401, 404, 404),
    ("GET", "/api/v1/groups/{group_id}/history"): (401, 404, 404),
    ("GET", "/api/v1/stores"): (401, 200, 200),
    ("GET", "/api/v1/stores/{store_id}"): (401, 404, 404),
    ("POST", "/api/v1/plans"): (401, 403, 201),
    ("GET", "/api/v1/plans/pending"): (401, 403, 404),
    ("GET", "/api/v1/plans/pending/changes"): (401, 403, 404),
    ("POST", "/api/v1/plans/pending/apply"): (401, 403, 200),
    ("GET", "/api/v1/plans"): (401, 403, 200),
    ("GET", "/api/v1/plans/{revision_id}"): (401, 403, 404),
    ("GET", "/api/v1/plans/{revision_id}/changes"): (401, 403, 404),
    ("GET", "/api/v1/coverage"): (401, 200, 200),
    ("GET", "/api/v1/audit"): (401, 200, 200),
    ("POST", "/api/v1/handovers"): (401, 403, 404),
    ("POST", "/api/v1/events"): (401, 403, 202),
    ("GET", "/api/v1/analytics/vip-candidates"): (401, 200, 200),
    ("GET", "/api/v1/analytics/funnel"): (401, 200, 200),
    ("GET", "/api/v1/analytics/cohorts"): (401, 200, 200),
    ("GET", "/api/v1/analytics/reach"): (401, 200, 200),
    ("GET", "/api/v1/analytics/referrals"): (401, 200, 200),
    ("GET", "/login"): (200, 200, 200),
    ("POST", "/login"): (403, 200, 200),
    ("POST", "/logout"): (403, 303, 303),
    ("GET", "/lang/{code}"): (303, 303, 303),
    ("GET", "/favicon.ico"): (308, 308, 308),
    ("GET", "/"): (LOGIN, 200, 200),
    ("GET", "/matrix"): (LOGIN, 200, 200),
    ("GET", "/matrix/{region}"): (LOGIN, 200, 200),
    ("GET", "/groups/{group_id}"): (LOGIN, 404, 404),
    ("GET", "/analytics/vip"): (LOGIN, 200, 200),
    ("GET", "/analytics/funnel"): (LOGIN, 200, 200),
    ("GET", "/analytics/cohorts"): (LOGIN, 200, 200),
    ("GET", "/analytics/reach"): (LOGIN, 200, 200),
    ("GET", "/analytics/referrals"): (LOGIN, 200, 200),
    ("GET", "/plan"): (LOGIN, 403, 200),
    ("POST", "/plan/compute"): (LOGIN, 403, 200),
    ("POST", "/plan/apply"): (LOGIN, 403, 200),
    ("GET", "/handover"): (LOGIN, 403, 200),
    ("POST", "/handover"): (LOGIN, 403, 200),
    ("GET", "/import"): (LOGIN, 403, 200),
    ("POST", "/import"): (LOGIN, 403, 200),
    ("POST", "/import/confirm"): (LOGIN, 403, 200),
    ("GET", "/api/openapi.json"): (200, 200, 200),
    ("GET", "/api/docs"): (200, 200, 200),
    ("POST", "/api/v1/members/token"): (401, 403, 404),
    ("POST", "/api/v1/red-packets"): (401, 404, 404),
    ("GET", "/api/v1/red-packets/{packet_id}"): (401, 404, 404),
    ("POST", "/api/v1/red-packets/{packet_id}/grab"): (401, 401, 401),
    ("POST", "/api/v1/flash-sales"): (401, 404, 404),
    ("GET", "/api/v1/flash-sales/{sale_id}"): (401, 404, 404),
    ("POST", "/api/v1/flash-sales/{sale_id}/orders"): (401, 401, 401),
    ("POST", "/api/v1/group-buys"): (401, 404, 404),
    ("GET", "/api/v1/group-buys/{deal_id}"): (401, 404, 404),
    ("POST", "/api/v1/group-buys/{deal_id}/teams"): (401, 401, 401),
    ("POST", "/api/v1/group-buy-teams/{team_id}/members"): (401, 401, 401),
    ("POST", "/api/v1/order-lists"): (401, 404, 404),
    ("GET", "/api/v1/order-lists/{list_id}"): (401, 404, 404),
    ("POST", "/api/v1/order-lists/{list_id}/lines"): (401, 401, 401),
    ("POST", "/api/v1/draws"): (401, 404, 404),
    ("GET", "/api/v1/draws/{draw_id}"): (401, 404, 404),
    ("POST", "/api/v1/draws/{draw_id}/close"): (401, 404, 404),
    ("POST", "/api/v1/draws/{draw_id}/reveal"): (401, 404, 404),
    ("POST", "/api/v1/draws/{draw_id}/entries"): (401, 401, 401),
    ("GET", "/api/v1/draws/{draw_id}/verification"): (200, 200, 200),
    ("POST", "/api/v1/relays"): (401, 404, 404),
    ("GET", "/api/v1/relays/{relay_id}"): (401, 404, 404),
    ("POST", "/api/v1/relays/{relay_id}/next"): (401, 404, 404),
    ("POST", "/api/v1/relays/{relay_id}/stop"): (401, 404, 404),
    ("POST", "/api/v1/relays/{relay_id}/rounds"): (401, 401, 401),
    ("GET", "/h5/draws/{draw_id}"): (401, 401, 401),
    ("POST", "/h5/draws/{draw_id}/entries"): (401, 401, 401),
    ("GET", "/groups/{group_id}/red-packets"): (LOGIN, 404, 404),
    ("POST", "/groups/{group_id}/red-packets"): (LOGIN, 404, 404),
    ("POST", "/groups/{group_id}/red-packet-rule"): (LOGIN, 403, 404),
    ("GET", "/red-packet-rules"): (LOGIN, 403, 200),
    ("POST", "/red-packet-rules"): (LOGIN, 403, 200),
    ("GET", "/groups/{group_id}/flash-sales"): (LOGIN, 404, 404),
    ("POST", "/groups/{group_id}/flash-sales"): (LOGIN, 404, 404),
    ("GET", "/flash-sales/{sale_id}"): (LOGIN, 404, 404),
    ("GET", "/groups/{group_id}/group-buys"): (LOGIN, 404, 404),
    ("POST", "/groups/{group_id}/group-buys"): (LOGIN, 404, 404),
    ("GET", "/group-buys/{deal_id}"): (LOGIN, 404, 404),
    ("GET", "/groups/{group_id}/relays"): (LOGIN, 404, 404),
    ("POST", "/groups/{group_id}/relays"): (LOGIN, 404, 404),
    ("GET", "/relays/{relay_id}"): (LOGIN, 404, 404),
    ("POST", "/relays/{relay_id}/next"): (LOGIN, 404, 404),
    ("POST", "/relays/{relay_id}/stop"): (LOGIN, 404, 404),
    ("GET", "/groups/{group_id}/draws"): (LOGIN, 404, 404),
    ("POST", "/groups/{group_id}/draws"): (LOGIN, 404, 404),
    ("GET", "/draws/{draw_id}"): (LOGIN, 404, 404),
    ("POST", "/draws/{draw_id}/draw"): (LOGIN, 404, 404),
    ("GET", "/groups/{group_id}/order-lists"): (LOGIN, 404, 404),
    ("POST", "/groups/{group_id}/order-lists"): (LOGIN, 404, 404),
    ("GET", "/order-lists/{list_id}"): (LOGIN, 404, 404),
    ("GET", "/order-cutoffs"): (LOGIN, 200, 200),
    ("POST", "/order-cutoffs"): (LOGIN, 403, 200),
    ("GET", "/order-cutoffs/{cutoff_id}/pick-list"): (LOGIN, 200, 404),
    ("GET", "/order-cutoffs/{cutoff_id}/pick-list.csv"): (LOGIN, 200, 404),
    ("GET", "/order-cutoffs/{cutoff_id}/delivery"): (LOGIN, 200, 404),
    ("GET", "/order-cutoffs/{cutoff_id}/delivery.csv"): (LOGIN, 200, 404),
    ("GET", "/h5/login"): (401, 401, 401),
    ("GET", "/h5/"): (401, 401, 401),
    ("GET", "/h5/red-packets/{packet_id}"): (401, 401, 401),
    ("POST", "/h5/red-packets/{packet_id}/grab"): (401, 401, 401),
    ("POST", "/h5/relays/{relay_id}/next"): (401, 401, 401),
    ("GET", "/h5/flash-sales/{sale_id}"): (401, 401, 401),
    ("POST", "/h5/flash-sales/{sale_id}/orders"): (401, 401, 401),
    ("GET", "/h5/group-buys/{deal_id}"): (401, 401, 401),
    ("POST", "/h5/group-buys/{deal_id}/teams"): (401, 401, 401),
    ("POST", "/h5/group-buy-teams/{team_id}/members"): (401, 401, 401),
    ("GET", "/h5/order-lists/{list_id}"): (401, 401, 401),
    ("POST", "/h5/order-lists/{list_id}/lines"): (401, 401, 401),
}
"""Requests run in this order (sorted): GETs, then POSTs; the other tenant's HQ computes
its own (empty) plan and applies it, and its handover names people it does not have."""


def _routes(app: FastAPI) -> set[tuple[str, str]]:
    """Return (method, path) of every route, those of included routers with their prefix."""
    found = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            continue
        assert route.path is not None
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


def _call(
    client: TestClient, method: str, path: str, headers: dict[str, str], csrf: str | None
) -> tuple[int, str, str]:
    body: dict[str, object] = {}
    if method == "POST" and path in ACTIVATION_BODIES:
        body = {"json": ACTIVATION_BODIES[path]}
    elif path == "/api/v1/handovers":
        body = {"json": {"from": "R0002", "to": "R0003"}}
    elif path == "/api/v1/events":
        body = {"json": {"events": []}}
    elif path == "/api/v1/auth/token":
        body = {"json": {"tenant": "demo", "username": "rep", "password": "wrong-password"}}
    elif method == "POST" and not path.startswith("/api/"):
        form = {"from_id": "R0002", "to_id": "R0003", "tenant": "demo", "username": "x"}
        form |= {"password": "y"}
        if csrf is not None:
            form["csrf_token"] = csrf
        body = {"data": form}
    response = client.request(method, path, headers=headers, follow_redirects=False, **body)  # type: ignore[arg-type]
    return response.status_code, response.headers.get("location", ""), response.text


def test_every_route_refuses_anonymous_and_out_of_scope_callers(
    app: FastAPI, client: TestClient, engine: Engine, demo: Cli
) -> None:
    # given a rep (R0001) and objects of another rep's territory
    foreign_group = store_groups_of(engine, "R0002")[0]
    with unit_of_work(engine) as session:
        foreign_store = session.scalars(
            select(Store.store_id).where(Store.rep_id == "R0002").order_by(Store.store_id)
        ).first()
        revision = session.scalars(select(PlanRevision.id)).first()  # the demo's, applied
    assert foreign_store is not None
    assert revision is not None
    # the rep's own province: other reps' groups there must stay hidden
    fill = {
        "{group_id}": foreign_group,
        "{store_id}": foreign_store,
        "{code}": "en",
        "{region}": "440000",
        "{revision_id}": str(revision),
    }
    fill |= foreign_activation(engine, foreign_group)
    fill["{cutoff_id}"] = _foreign_cutoff(engine, foreign_group, foreign_store)

    def concrete(path: str) -> str:
        for name, value in fill.items():
            path = path.replace(name, value)
        return path

    # and activity there: the store talks (a VIP candidate), joins, invites, shares content
    _foreign_activity(engine, foreign_group, foreign_store)
    bodies = activation_bodies(foreign_group, foreign_store)
    ACTIVATION_BODIES.update({concrete(path): body for path, body in bodies.items()})

    # the table covers every route, no more and no less
    assert _routes(app) == set(EXPECTED)

    anonymous = TestClient(app)
    demo("tenant", "create", "acme", "--name", "另一个品牌")
    demo(
        "user", "create", "-t", "acme", "--username", "boss",
        "--password", DEMO_PASSWORD, "--role", "hq_admin",
    )  # fmt: skip
    outsiders = [_Caller(app, client, "rep", "demo"), _Caller(app, client, "boss", "acme")]

    for (method, path), (anonymous_status, *statuses) in sorted(EXPECTED.items()):
        url = concrete(path)
        # when called anonymously
        status, location, text = _call(anonymous, method, url, {}, None)
        if anonymous_status == LOGIN:
            assert (status, location) == (303, f"/login?next={url}"), (method, path)
        else:
            assert status == anonymous_status, (method, path, status, text)
        for caller, expected in zip(outsiders, statuses, strict=True):
            # and as an outsider (bearer for the API, the session for the console)
            status, text = caller.call(method, path, url)
            assert status == expected, (caller.username, method, path, status, text)
            # then nothing of the other territory shows: an object route answers exactly as
            # for an id that does not exist, every other route never names its ids
            if "{group_id}" in path or "{store_id}" in path:
                made_up = path.replace("{group_id}", "SG999999").replace("{store_id}", "ST999999")
                _, missing = caller.call(method, made_up, made_up)
                made_up_id = "SG999999" if "{group_id}" in path else "ST999999"
                real_id = foreign_group if "{group_id}" in path else foreign_store
                assert text == missing.replace(made_up_id, real_id), (method, path)
            elif foreign_group in (sent := json.dumps(ACTIVATION_BODIES.get(url))) or (
                foreign_store in sent
            ):
                # a body that names the other territory's objects answers as for made-up ones
                made_up_body = sent.replace(foreign_group, "SG999999")
                ACTIVATION_BODIES[url] = json.loads(made_up_body.replace(foreign_store, "ST999999"))
                _, missing = caller.call(method, path, url)
                ACTIVATION_BODIES[url] = json.loads(sent)
                real = missing.replace("SG999999", foreign_group).replace("ST999999", foreign_store)
                assert text == real, (caller.username, method, path)
            elif path.startswith("/api/v1/") and expected == 404 and ACTIVATION_ID.search(path):
                # an activation object of the other territory answers as an unknown id
                made_up = re.sub(r"/[0-9]+(/|$)", r"/999999\1", url)
                _, missing = caller.call(method, path, made_up)
                assert text == missing.replace("999999", url.split("/")[4]), (method, path)
                assert foreign_group not in text, (caller.username, method, path)
            else:
                assert foreign_group not in text, (caller.username, method, path)
                assert foreign_store not in text, (caller.username, method, path)
                assert "FOREIGN-CONTENT" not in text, (caller.username, method, path)
                assert "FOREIGN-ITEM" not in text, (caller.username, method, path)


def _foreign_cutoff(engine: Engine, group: str, store: str) -> str:
    """Cut off a line of the other territory's list of three days ago; return the cutoff's id.

    A cutoff is the tenant's: an outsider of the same tenant sees it, but none of its lines.
    """
    shanghai = ZoneInfo("Asia/Shanghai")
    local = (utcnow().astimezone(shanghai) - timedelta(days=3)).replace(hour=10, minute=0)
    when = local.astimezone(UTC)  # 10:00 local: before that day's cutoffs
    with unit_of_work(engine) as session:
        tenant = access_tenant(session, Actor.operator(), "demo")
        member = session.scalars(
            select(Membership.member_id).where(
                Membership.group_id == group,
                Membership.member_kind == ContactKind.STORE,
                Membership.left_at.is_(None),
            )
        ).first()
        assert member is not None
        items = [ListItem("FOREIGN-ITEM", "外区商品", 100, "FOREIGN-WAREHOUSE")]
        order_list = do_open_order_list(
            session, tenant, group, ContactKind.STORE, member, items, 500, when=when
        )
        do_add_line(session, tenant, order_list.id, ContactKind.STORE, member, "FOREIGN-ITEM", 2,
                    when=when + timedelta(seconds=1))  # fmt: skip
        return str(do_cutoff(session, tenant, latest_cutoff(session, tenant, utcnow())).cutoff_id)


def _foreign_activity(engine: Engine, group: str, store: str) -> None:
    """Store a week of the other territory's activity: every analysis then names its ids."""
    with unit_of_work(engine) as session:
        tenant = access_tenant(session, Actor.operator(), "demo")
    base = {"group_id": group, "member_kind": "store", "member_id": store}
    events = [
        {**base, "event_id": f"f{hour}", "ts": f"2026-11-23T{9 + hour:02d}:00:00+08:00",
         "kind": "message"}
        for hour in range(8)
    ]  # fmt: skip
    events += [
        {**base, "event_id": "f-join", "ts": "2026-11-20T08:00:00+08:00", "kind": "join"},
        {**base, "event_id": "f-ref", "ts": "2026-11-20T08:00:01+08:00", "kind": "referral",
         "member_kind": "consumer", "member_id": "NEWCOMER", "inviter_kind": "store",
         "inviter_id": store},
        {**base, "event_id": "f-share", "ts": "2026-11-21T08:00:00+08:00",
         "kind": "content_share", "content_id": "FOREIGN-CONTENT"},
    ]  # fmt: skip
    assert do_ingest_events(tenant, events, skip_invalid=False).accepted == 11


class _Caller:
    """An outsider: a bearer token for the API and a logged-in console session."""

    def __init__(self, app: FastAPI, client: TestClient, username: str, tenant: str) -> None:
        self.username, self.tenant = username, tenant
        self.headers = bearer(client, username, tenant=tenant)
        self.console = TestClient(app)
        self._login()

    def _login(self) -> None:
        console_login(self.console, self.username, tenant=self.tenant)
        self.csrf = csrf_of(self.console)

    def call(self, method: str, path: str, url: str) -> tuple[int, str]:
        is_api = path.startswith("/api/v1/")
        status, _, text = _call(
            self.console,
            method,
            url,
            self.headers if is_api else {},
            None if is_api else self.csrf,
        )
        if path == "/logout":
            self._login()
        return status, text


def test_api_docs_load_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/api/docs").text

    sources = re.findall(r'(?:src|href)="([^"]+)"', page)

    assert sources == [
        "/static/vendor/swagger-ui-5.35.0/swagger-ui.css",
        "/static/favicon.svg",
        "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js",
    ]
    assert "cdn" not in page.lower()


def test_static_files_are_served_locally_and_public(client: TestClient) -> None:
    htmx = client.get("/static/vendor/htmx-2.0.11.min.js")
    echarts = client.get("/static/vendor/echarts-5.6.0.min.js")
    missing = client.get("/static/vendor/nothing.js")

    assert (htmx.status_code, echarts.status_code) == (200, 200)
    assert echarts.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert echarts.headers["content-encoding"] == "gzip"
    assert client.get("/static/console.css").headers.get("cache-control") is None
    assert htmx.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert missing.status_code == 404


def _member_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Return (method, path) of the routes that act as a member (they depend on api_member)."""
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and any(
            dependency.call is api_member for dependency in route.dependant.dependencies
        ):
            found |= {(method, str(context.path)) for method in route.methods}
    return found


def test_member_tokens_open_only_member_routes_and_staff_tokens_only_staff_routes(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    # given a member token of a store of R0001's group, and an HQ token
    group = store_groups_of(engine, "R0001")[0]
    fill = foreign_activation(engine, group)
    hq = bearer(client, "hq")
    member = member_headers(client, hq, stores_of_group(engine, group)[1])
    bodies = activation_bodies(group, stores_of_group(engine, group)[1])
    member_routes = _member_routes(app)
    bearer_routes = {
        (method, path)
        for method, path in _routes(app)
        if path.startswith("/api/v1/")
        and path not in ("/api/v1/auth/token", "/api/v1/draws/{draw_id}/verification")
    }

    def call(method: str, path: str, headers: dict[str, str]) -> int:
        url = path
        for name, value in fill.items():
            url = url.replace(name, value)
        body = {"json": bodies[path]} if method == "POST" and path in bodies else {}
        return client.request(method, url, headers=headers, **body).status_code  # type: ignore[arg-type]

    # then the member routes are the seven member actions
    assert member_routes == {
        ("POST", "/api/v1/draws/{draw_id}/entries"),
        ("POST", "/api/v1/red-packets/{packet_id}/grab"),
        ("POST", "/api/v1/flash-sales/{sale_id}/orders"),
        ("POST", "/api/v1/group-buys/{deal_id}/teams"),
        ("POST", "/api/v1/group-buy-teams/{team_id}/members"),
        ("POST", "/api/v1/order-lists/{list_id}/lines"),
        ("POST", "/api/v1/relays/{relay_id}/rounds"),
    }
    # and a member token is refused on every staff route, an HQ token on every member route
    for method, path in sorted(bearer_routes - member_routes):
        assert call(method, path, member) == 401, (method, path)
    for method, path in sorted(member_routes):
        assert call(method, path, hq) == 401, (method, path)
