"""``/api/v1/analytics/…``: VIP candidates, funnel, cohorts, reach and referrals in scope."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from qunyun.analytics.growth import (
    read_cohorts,
    read_funnel,
    read_reach,
    read_referrals,
    read_vip_candidates,
)
from qunyun.analytics.reach import RULE_OF_THUMB_DECAY, TIERS
from qunyun.groups.plans import PlanRules
from qunyun.org.access import actor_tenant, analytics_groups, require_reader, stores_in_scope
from qunyun.web.api.analytics_schemas import (
    CohortOut,
    CohortsOut,
    ContentReachOut,
    FunnelOut,
    FunnelRowOut,
    ReachOut,
    ReferralsOut,
    ReferrerOut,
    TierReachOut,
    VipCandidateOut,
    VipCandidatesOut,
)
from qunyun.web.deps import ApiActor, work

router = APIRouter(prefix="/analytics", tags=["analytics"])

AsOf = Annotated[
    date | None,
    Query(description="Figures up to this local day; default: the lake's last day."),
]


@router.get("/vip-candidates", response_model=VipCandidatesOut)
def vip_candidates(
    actor: ApiActor,
    request: Request,
    as_of: AsOf = None,
    province: Annotated[
        str | None, Query(pattern=r"^[0-9]{6}$", description="Only this province (its code).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Items (1–1000).")] = 200,
) -> VipCandidatesOut:
    """Return the VIP candidate stores in the caller's scope, by province then rank."""
    require_reader(actor)
    share = PlanRules.from_settings().matrices.vip_share
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        found = read_vip_candidates(
            session, tenant, stores_in_scope(session, actor, tenant), share, as_of
        )
    chosen = [c for c in found.candidates if province is None or c.province_code == province]
    return VipCandidatesOut(
        as_of=found.as_of,
        share=found.share,
        total=len(chosen),
        items=[VipCandidateOut.model_validate(c, from_attributes=True) for c in chosen[:limit]],
    )


@router.get("/funnel", response_model=FunnelOut)
def funnel(actor: ApiActor, request: Request, as_of: AsOf = None) -> FunnelOut:
    """Return the AARRR funnel of each matrix over the groups in the caller's scope."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        found = read_funnel(session, tenant, analytics_groups(session, actor, tenant), as_of)
    rows = found.figures or []
    return FunnelOut(as_of=found.as_of, matrices=[FunnelRowOut.model_validate(r) for r in rows])


@router.get("/cohorts", response_model=CohortsOut)
def cohorts(actor: ApiActor, request: Request, as_of: AsOf = None) -> CohortsOut:
    """Return weekly cohort retention of the members who joined groups in the caller's scope."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        within = analytics_groups(session, actor, tenant)
    found = read_cohorts(tenant, within, as_of)
    return CohortsOut(
        as_of=found.as_of,
        cohorts=[CohortOut.model_validate(c) for c in found.figures or []],
    )


@router.get("/reach", response_model=ReachOut)
def reach(actor: ApiActor, request: Request, as_of: AsOf = None) -> ReachOut:
    """Return how far each content travelled down the tiers of the caller's scope."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        found = read_reach(session, tenant, analytics_groups(session, actor, tenant), as_of)
    figures = found.figures
    if figures is None:
        return ReachOut(
            as_of=None,
            groups={},
            mean_share={},
            mean_decay={},
            rule_of_thumb_decay=RULE_OF_THUMB_DECAY,
            contents=[],
        )
    return ReachOut(
        as_of=found.as_of,
        groups=figures["groups"],
        mean_share=figures["mean_share"],
        mean_decay=figures["mean_decay"],
        rule_of_thumb_decay=figures["rule_of_thumb_decay"],
        contents=[
            ContentReachOut(
                content_id=row["content_id"],
                tiers=[
                    TierReachOut(
                        tier=tier,
                        share=row[f"{tier}_share"],
                        median_delay_hours=row.get(f"{tier}_delay_hours"),
                        decay=row.get(f"{tier}_decay"),
                    )
                    for tier in TIERS
                ],
            )
            for row in figures["contents"]
        ],
    )


@router.get("/referrals", response_model=ReferralsOut)
def referrals(
    actor: ApiActor,
    request: Request,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Leaderboard rows (1–500).")] = 50,
) -> ReferralsOut:
    """Return the referral trees made in the caller's scope and the leaderboard's first rows."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        within = analytics_groups(session, actor, tenant)
        found = read_referrals(session, tenant, within, limit, as_of)
    figures = found.figures
    if figures is None:
        return ReferralsOut(as_of=None, invitees=0, inviters=0, trees=0, max_depth=0, items=[])
    return ReferralsOut(
        as_of=found.as_of,
        invitees=figures["invitees"],
        inviters=figures["inviters"],
        trees=figures["trees"],
        max_depth=figures["max_depth"],
        items=[ReferrerOut.model_validate(row) for row in figures["top"]],
    )
