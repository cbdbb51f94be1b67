"""Console pages: thin handlers that resolve the actor, call one query or action, render."""

from __future__ import annotations

import hmac
import json
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import and_, select

from qunyun.analytics.figures import CommunityFigures, community_figures
from qunyun.analytics.overview import Overview, overview_of
from qunyun.core.errors import Forbidden, QunyunError, Unauthenticated
from qunyun.events.actions import tenant_lake
from qunyun.groups.governance import audit_groups
from qunyun.groups.handover import do_handover
from qunyun.groups.models import MATRIX_LABELS, Group, Matrix, PlanRevision, RevisionStatus
from qunyun.groups.plans import do_apply_plan, do_compute_plan
from qunyun.groups.queries import (
    group_members,
    group_owner,
    groups_in,
    groups_per_region,
    plan_changes,
)
from qunyun.org.access import (
    Actor,
    access_group,
    access_staff,
    actor_tenant,
    groups_in_scope,
    require_handover,
    require_planner,
    require_reader,
    require_whole_tenant,
    staff_in_scope,
)
from qunyun.org.accounts import do_login
from qunyun.org.models import STAFF_ROLE_LABELS, Staff
from qunyun.org.regions import catalogue
from qunyun.web.auth import session_payload
from qunyun.web.console.charts import activity, group_activity
from qunyun.web.console.i18n import LANG_COOKIE, LANGUAGES
from qunyun.web.console.render import language, render
from qunyun.web.deps import console_actor, work

router = APIRouter()

Text = Annotated[str, Form(max_length=256)]
ObjectId = Annotated[str, Path(min_length=1, max_length=64)]


def _actor(request: Request) -> Actor:
    actor = console_actor(request)
    if actor is None:
        raise Unauthenticated("请先登录")
    require_reader(actor)
    return actor


async def _check_csrf(request: Request) -> None:
    """Raise Forbidden unless the form or the HTMX header carries the session's CSRF token."""
    form = await request.form()
    sent = request.headers.get("x-csrf-token") or form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str):
        raise Forbidden("表单已过期（CSRF 校验失败），请刷新页面后重试")
    if not hmac.compare_digest(sent, expected):
        raise Forbidden("表单已过期（CSRF 校验失败），请刷新页面后重试")


ConsoleActor = Annotated[Actor, Depends(_actor)]
"""The logged-in reader; resolved before the CSRF check, so that strangers go to the login."""
CsrfChecked = Annotated[None, Depends(_check_csrf)]
"""Declared after the actor: writes run as plain functions in the thread pool (the database
work must not block the event loop), while this async dependency reads the form."""


def _safe_next(target: str | None) -> str:
    """Return ``target`` when it is a path on this site, else ``/`` (no open redirects)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


# --- login, language -------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    """Show the login form."""
    return render(request, "login.html", None, {"next": _safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    _csrf: CsrfChecked,
    tenant: Text,
    username: Text,
    password: Text,
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Log in: a signed session cookie with a fresh CSRF token."""
    try:
        with work(request) as session:
            account = do_login(session, tenant, username, password)
            payload = session_payload(account) if account is not None else None
    except QunyunError as error:
        context = {"next": _safe_next(next), "error": error.message}
        return render(request, "login.html", None, context)
    if payload is None:
        context = {"next": _safe_next(next), "error": "bad_login"}
        return render(request, "login.html", None, context)
    request.session.clear()
    request.session.update(payload)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, _csrf: CsrfChecked) -> Response:
    """Log out."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def switch_language(code: Annotated[str, Path(max_length=5)], next: str | None = None) -> Response:
    """Switch the console language (中文 / English) and go back."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="strict")
    return response


@router.get("/favicon.ico")
def favicon() -> Response:
    """Send browsers to the icon among the static files."""
    return RedirectResponse("/static/favicon.svg", status_code=308)


# --- overview, matrix, group -----------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    """Show coverage, groups by matrix and health, activity and staff silence in the scope."""
    actor = _actor(request)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        figures = overview_of(session, actor, tenant)
        brand = tenant.name
    community = community_figures(tenant_lake(tenant))
    lang = language(request)
    key = (id(community), community.version if community else None, lang)
    derived = figures.derived.get(key)
    if derived is None:  # the charts of these figures, made once per lake version and language
        if len(figures.derived) >= 8:
            figures.derived.clear()
        derived = figures.derived[key] = _overview_charts(figures, community, lang)
    return render(request, "overview.html", actor, {"brand": brand, **derived})


def _overview_charts(
    figures: Overview, community: CommunityFigures | None, lang: str
) -> dict[str, Any]:
    coverage = figures.coverage
    by_matrix = figures.by_matrix
    people = {leader.staff_id for leader in figures.leaders}
    voices = (
        [v for v in community.silence(figures.leaders) if v.leader.staff_id in people][
            :SILENCE_ROWS
        ]
        if community is not None
        else []
    )
    share = coverage.covered / coverage.active if coverage.active else 1.0
    matrix_chart = {
        "xAxis": {"type": "category", "data": [MATRIX_LABELS[m] for m in by_matrix]},
        "yAxis": {"type": "value"},
        "series": [{"type": "bar", "data": list(by_matrix.values())}],
        "grid": {"left": 40, "right": 10, "top": 20, "bottom": 30},
    }
    regions = sorted(coverage.by_region.items())
    coverage_chart = {
        "xAxis": {"type": "category", "data": [name for name, _ in regions]},
        "yAxis": {"type": "value", "max": 100},
        "series": [
            {
                "type": "bar",
                "data": [round(100 * c["covered"] / c["active"], 1) for _, c in regions],
            }
        ],
        "grid": {"left": 40, "right": 10, "top": 20, "bottom": 30},
    }
    return {
        "coverage": coverage,
        "share": share,
        "by_matrix": {matrix.value: count for matrix, count in by_matrix.items()},
        "matrix_chart": json.dumps(matrix_chart, ensure_ascii=False),
        "coverage_chart": json.dumps(coverage_chart, ensure_ascii=False),
        "uncovered": coverage.uncovered[:20],
        "activity": activity(community, figures.group_ids, lang) if community else None,
        "voices": voices,
    }


SILENCE_ROWS = 20
"""Leaders listed on the overview: the silent first."""

NO_REGION = "none"
"""The path segment of groups without a region (national groups)."""


def _region_name(code: str | None) -> str:
    return catalogue().by_code[code].name if code else "全国"


@router.get("/matrix", response_class=HTMLResponse)
def matrix(request: Request) -> Response:
    """Show the regions of the caller's scope with their group counts; one region opened.

    A national brand has tens of thousands of groups: each region's reps and groups load
    when it is opened (``/matrix/{region}``), and a scope of one region shows it at once.
    """
    actor = _actor(request)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        within = groups_in_scope(session, actor, tenant)
        regions = groups_per_region(session, within)
        opened = _region_tree(session, tenant, within, regions[0][0]) if len(regions) == 1 else None
    return render(
        request,
        "matrix.html",
        actor,
        {
            "regions": [(code or NO_REGION, _region_name(code), count) for code, count in regions],
            "count": sum(count for _, count in regions),
            "opened": opened,
        },
    )


@router.get("/matrix/{region}", response_class=HTMLResponse)
def matrix_region(request: Request, region: Annotated[str, Path(max_length=6)]) -> Response:
    """Show one region's reps and their groups with size (a fragment the matrix page loads)."""
    actor = _actor(request)
    code = None if region == NO_REGION else region
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        within = groups_in_scope(session, actor, tenant)
        tree = _region_tree(session, tenant, within, code)
    return render(request, "matrix_region.html", actor, {"tree": tree})


def _region_tree(session: Any, tenant: Any, within: Any, code: str | None) -> dict[str, list[Any]]:
    """Return rep label → groups of one region, reps by name."""
    in_region = Group.region_code.is_(None) if code is None else Group.region_code == code
    rows = groups_in(session, and_(within, in_region))
    reps = {row.territory_rep_id for row in rows if row.territory_rep_id}
    names = dict(
        session.execute(
            select(Staff.staff_id, Staff.name).where(
                Staff.tenant_id == tenant.id, Staff.staff_id.in_(reps)
            )
        ).all()
    )
    tree: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        rep = row.territory_rep_id
        label = f"{names.get(rep, rep)}（{rep}）" if rep else MATRIX_LABELS[row.matrix]
        tree[label].append(row)
    return dict(sorted(tree.items()))


@router.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group: health, activity, members with levels, staff seats, rule breaches."""
    actor = _actor(request)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        group = access_group(session, actor, tenant, group_id)
        owner = group_owner(session, tenant, group)
        members = group_members(session, group)
        breaches = audit_groups(
            session, tenant, (Group.tenant_id == tenant.id) & (Group.group_id == group.group_id)
        )
    figures = community_figures(tenant_lake(tenant))
    customers = [m for m in members if m.member_kind.value != "staff"]
    levels = (
        figures.levels_of([(m.member_kind.value, m.member_id) for m in customers])
        if figures is not None
        else {}
    )
    return render(
        request,
        "group.html",
        actor,
        {
            "group": group,
            "owner": owner,
            "matrix_label": MATRIX_LABELS[group.matrix],
            "region": catalogue().full_name(group.region_code) if group.region_code else "—",
            "customers": customers,
            "seats": [m for m in members if m.member_kind.value == "staff"],
            "breaches": breaches,
            "figures": figures,
            "health": figures.health_of(group.group_id) if figures is not None else None,
            "levels": levels,
            "activity_chart": (
                group_activity(figures, group.group_id, language(request)) if figures else None
            ),
        },
    )


# --- plan ------------------------------------------------------------------------------------

DEAD_GROUPS_SHOWN = 200
"""Dead groups (僵尸群) listed on the plan page; the count names them all."""

SUMMARY_KEYS = (
    "groups_created",
    "groups_archived",
    "groups_merged",
    "members_added",
    "members_removed",
    "members_moved",
    "staff_seats_added",
    "staff_seats_removed",
)


def _plan_context(session: Any, actor: Actor) -> dict[str, Any]:
    tenant = actor_tenant(session, actor)
    revision = session.scalar(
        select(PlanRevision)
        .where(
            PlanRevision.tenant_id == tenant.id,
            PlanRevision.status == RevisionStatus.PENDING,
        )
        .order_by(PlanRevision.id.desc())
    )
    changes = plan_changes(session, revision.id, None, 200) if revision is not None else []
    rows = json.loads(revision.summary) if revision is not None and revision.summary else []
    dead = sorted(
        (group_id, MATRIX_LABELS[Matrix(row["matrix"])], row["region"])
        for row in rows
        for group_id in row.get("dead_group_ids", ())
    )
    shown = [group_id for group_id, _, _ in dead[:DEAD_GROUPS_SHOWN]]
    names = dict(
        session.execute(
            select(Group.group_id, Group.name).where(
                Group.tenant_id == tenant.id, Group.group_id.in_(shown)
            )
        ).all()
    )
    return {
        "revision": revision,
        "rows": [
            {
                "matrix": MATRIX_LABELS[Matrix(row["matrix"])],
                "region": row["region"],
                **{key: row.get(key, 0) for key in SUMMARY_KEYS},
                "dead_groups": row.get("dead_groups", 0),
            }
            for row in rows
        ],
        "keys": SUMMARY_KEYS,
        "dead": [
            (group_id, names.get(group_id, group_id), matrix, region)
            for group_id, matrix, region in dead[:DEAD_GROUPS_SHOWN]
        ],
        "dead_count": len(dead),
        "changes": changes,
        "can_plan": actor.role is not None and actor.role.value == "hq_admin",
    }


@router.get("/plan", response_class=HTMLResponse)
def plan_page(request: Request) -> Response:
    """Show the pending plan with its summary and diff; compute and apply (HQ)."""
    actor = _actor(request)
    require_whole_tenant(actor)
    with work(request) as session:
        context = _plan_context(session, actor)
    return render(request, "plan.html", actor, {**context, "message": None, "error": None})


@router.post("/plan/compute", response_class=HTMLResponse)
def plan_compute(request: Request, actor: ConsoleActor, _csrf: CsrfChecked) -> Response:
    """Compute a new pending plan."""
    require_planner(actor)
    with work(request) as session:
        do_compute_plan(session, actor_tenant(session, actor), f"web:{actor.name}")
    with work(request) as session:
        context = _plan_context(session, actor)
    return render(request, "plan.html", actor, {**context, "message": "computed", "error": None})


@router.post("/plan/apply", response_class=HTMLResponse)
def plan_apply(request: Request, actor: ConsoleActor, _csrf: CsrfChecked) -> Response:
    """Apply the pending plan; a refusal (channel changed, no plan) is shown on the page."""
    require_planner(actor)
    error = None
    try:
        with work(request) as session:
            do_apply_plan(session, actor_tenant(session, actor), f"web:{actor.name}")
    except QunyunError as refusal:
        error = refusal.message
    with work(request) as session:
        context = _plan_context(session, actor)
    message = None if error else "applied"
    return render(request, "plan.html", actor, {**context, "message": message, "error": error})


# --- handover --------------------------------------------------------------------------------


def _handover_context(request: Request, actor: Actor) -> dict[str, Any]:
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        people = session.scalars(
            select(Staff)
            .where(staff_in_scope(session, actor, tenant))
            .order_by(Staff.role, Staff.staff_id)
        ).all()
    return {
        "givers": [
            (p.staff_id, f"{p.staff_id} {p.name}（{STAFF_ROLE_LABELS[p.role]}）") for p in people
        ],
        "takers": [
            (p.staff_id, f"{p.staff_id} {p.name}（{STAFF_ROLE_LABELS[p.role]}）")
            for p in people
            if p.left_at is None
        ],
    }


@router.get("/handover", response_class=HTMLResponse)
def handover_page(request: Request) -> Response:
    """Show the handover form: people within the caller's scope."""
    actor = _actor(request)
    require_handover(actor)
    context = _handover_context(request, actor)
    return render(request, "handover.html", actor, {**context, "report": None, "error": None})


@router.post("/handover", response_class=HTMLResponse)
def handover(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    from_id: Annotated[str, Form(max_length=64)],
    to_id: Annotated[str, Form(max_length=64)],
) -> Response:
    """Hand a person's stores, groups and reports to a colleague of the same role."""
    require_handover(actor)
    report, error = None, None
    try:
        with work(request) as session:
            tenant = actor_tenant(session, actor)
            access_staff(session, actor, tenant, from_id)
            access_staff(session, actor, tenant, to_id)
            report = do_handover(session, tenant, from_id, to_id)
    except QunyunError as refusal:
        error = refusal.message
    context = _handover_context(request, actor)
    return render(
        request,
        "handover.html",
        actor,
        {**context, "report": report, "error": error, "pair": (from_id, to_id)},
    )
