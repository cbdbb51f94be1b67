"""Console pages of the growth analyses: VIP candidates, funnel, cohorts, reach, referrals.

Each page reads one analysis of ``analytics.growth`` within the scope the access guard gives
(the groups or stores of the caller) and renders it with an ECharts chart.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qunyun.analytics.funnel import FUNNEL_HEADER
from qunyun.analytics.growth import (
    read_cohorts,
    read_funnel,
    read_reach,
    read_referrals,
    read_vip_candidates,
)
from qunyun.analytics.reach import RULE_OF_THUMB_DECAY, TIERS
from qunyun.groups.plans import PlanRules
from qunyun.org.access import actor_tenant, analytics_groups, stores_in_scope
from qunyun.web.console.i18n import translate
from qunyun.web.console.pages import ConsoleActor
from qunyun.web.console.render import language, render
from qunyun.web.deps import work

router = APIRouter(prefix="/analytics")

TABS = ("vip", "funnel", "cohorts", "reach", "referrals")
"""The pages, in the order of their tabs (``/analytics/{tab}``)."""
LEADERBOARD_ROWS = 50
CHART_REFERRERS = 10
STEPS = FUNNEL_HEADER[1:]
GRID = {"left": 50, "right": 16, "top": 40, "bottom": 30, "containLabel": True}


def _dump(option: dict[str, Any]) -> str:
    return json.dumps(option, ensure_ascii=False)


def _page(request: Request, actor: Any, tab: str, context: dict[str, Any]) -> HTMLResponse:
    return render(request, f"growth_{tab}.html", actor, {"tabs": TABS, "tab": tab, **context})


@router.get("/vip", response_class=HTMLResponse)
def vip_page(request: Request, actor: ConsoleActor) -> Response:
    """Show the VIP candidate stores of the caller's scope per province, and who is in a VIP group."""
    share = PlanRules.from_settings().matrices.vip_share
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        found = read_vip_candidates(session, tenant, stores_in_scope(session, actor, tenant), share)
    lang = language(request)
    provinces = found.per_province()
    promoted = sum(c.in_vip_group for c in found.candidates)
    chart = {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "xAxis": {"type": "category", "data": list(provinces)},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "type": "bar",
                "stack": "vip",
                "name": translate(lang, "in_vip_group"),
                "data": [sum(c.in_vip_group for c in rows) for rows in provinces.values()],
                "itemStyle": {"color": "#15803d"},
            },
            {
                "type": "bar",
                "stack": "vip",
                "name": translate(lang, "to_promote"),
                "data": [sum(not c.in_vip_group for c in rows) for rows in provinces.values()],
                "itemStyle": {"color": "#ca8a04"},
            },
        ],
        "grid": GRID,
    }
    return _page(
        request,
        actor,
        "vip",
        {
            "found": found,
            "provinces": provinces,
            "promoted": promoted,
            "chart": _dump(chart) if found.candidates else None,
        },
    )


@router.get("/funnel", response_class=HTMLResponse)
def funnel_page(request: Request, actor: ConsoleActor) -> Response:
    """Show the AARRR funnel of each matrix over the groups of the caller's scope."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        found = read_funnel(session, tenant, analytics_groups(session, actor, tenant))
    lang = language(request)
    rows = found.figures or []
    chart = {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "xAxis": {"type": "category", "data": [translate(lang, f"step_{s}") for s in STEPS]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "type": "bar",
                "name": translate(lang, f"matrix_{row['matrix']}"),
                "data": [row[step] for step in STEPS],
            }
            for row in rows
            if row["acquired"]
        ],
        "grid": GRID,
    }
    return _page(
        request,
        actor,
        "funnel",
        {
            "as_of": found.as_of,
            "rows": rows,
            "steps": STEPS,
            "chart": _dump(chart) if any(row["acquired"] for row in rows) else None,
        },
    )


@router.get("/cohorts", response_class=HTMLResponse)
def cohorts_page(request: Request, actor: ConsoleActor) -> Response:
    """Show weekly cohort retention of the members who joined the groups of the caller's scope."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        within = analytics_groups(session, actor, tenant)
    found = read_cohorts(tenant, within)
    lang = language(request)
    cohorts = found.figures or []
    weeks = max((len(c["shares"]) for c in cohorts), default=0)
    chart = {
        "tooltip": {"position": "top"},
        "xAxis": {
            "type": "category",
            "data": [translate(lang, "week_n").format(n=n) for n in range(weeks)],
            "splitArea": {"show": True},
        },
        "yAxis": {
            "type": "category",
            "data": [c["cohort_week"] for c in cohorts],
            "inverse": True,
            "splitArea": {"show": True},
        },
        "visualMap": {
            "min": 0,
            "max": 100,
            "text": ["100%", "0%"],
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "inRange": {"color": ["#f0fdfa", "#0f766e"]},
        },
        "series": [
            {
                "type": "heatmap",
                "data": [
                    [week, row, round(100 * share)]
                    for row, cohort in enumerate(cohorts)
                    for week, share in enumerate(cohort["shares"])
                ],
                "label": {"show": weeks <= 8},
            }
        ],
        "grid": {"left": 90, "right": 10, "top": 10, "bottom": 70},
    }
    return _page(
        request,
        actor,
        "cohorts",
        {
            "as_of": found.as_of,
            "cohorts": cohorts,
            "weeks": weeks,
            "chart": _dump(chart) if cohorts else None,
        },
    )


@router.get("/reach", response_class=HTMLResponse)
def reach_page(request: Request, actor: ConsoleActor) -> Response:
    """Show how far content travels down the tiers (dealer → store → consumer) in the scope."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        found = read_reach(session, tenant, analytics_groups(session, actor, tenant))
    lang = language(request)
    figures = found.figures
    chart = None
    if figures is not None and figures["contents"]:
        first = figures["mean_share"][TIERS[0]] or 0.0
        chart = {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "xAxis": {"type": "category", "data": [translate(lang, f"matrix_{t}") for t in TIERS]},
            "yAxis": {"type": "value", "max": 1},
            "series": [
                {
                    "type": "bar",
                    "name": translate(lang, "mean_share"),
                    "data": [figures["mean_share"][t] for t in TIERS],
                },
                {
                    "type": "line",
                    "name": translate(lang, "rule_of_thumb"),
                    "data": [
                        round(first * (1 - RULE_OF_THUMB_DECAY) ** i, 4) for i in range(len(TIERS))
                    ],
                },
            ],
            "grid": GRID,
        }
    return _page(
        request,
        actor,
        "reach",
        {
            "as_of": found.as_of,
            "figures": figures,
            "tiers": TIERS,
            "rule": RULE_OF_THUMB_DECAY,
            "chart": _dump(chart) if chart else None,
        },
    )


@router.get("/referrals", response_class=HTMLResponse)
def referrals_page(request: Request, actor: ConsoleActor) -> Response:
    """Show the referral trees (老带新) made in the caller's groups and the leaderboard."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        within = analytics_groups(session, actor, tenant)
        found = read_referrals(session, tenant, within, LEADERBOARD_ROWS)
    lang = language(request)
    figures = found.figures
    chart = None
    if figures is not None and figures["top"]:
        best = figures["top"][:CHART_REFERRERS]
        chart = {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "yAxis": {
                "type": "category",
                "inverse": True,
                "data": [row["name"] or row["member_id"] for row in best],
            },
            "xAxis": {"type": "value", "minInterval": 1},
            "series": [
                {
                    "type": "bar",
                    "name": translate(lang, "total_invites"),
                    "data": [row["total"] for row in best],
                },
                {
                    "type": "bar",
                    "name": translate(lang, "direct_invites"),
                    "data": [row["direct"] for row in best],
                },
            ],
            "grid": GRID,
        }
    return _page(
        request,
        actor,
        "referrals",
        {"as_of": found.as_of, "figures": figures, "chart": _dump(chart) if chart else None},
    )
