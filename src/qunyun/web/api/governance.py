"""``/api/v1/coverage``, ``/api/v1/audit`` and ``/api/v1/handovers``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from qunyun.groups.figures import coverage_figures
from qunyun.groups.governance import audit_groups
from qunyun.groups.handover import do_handover
from qunyun.org.access import (
    access_staff,
    actor_tenant,
    coverage_in_scope,
    groups_in_scope,
    require_handover,
    require_reader,
)
from qunyun.web.api.schemas import AuditOut, BreachOut, CoverageOut, HandoverIn, HandoverOut
from qunyun.web.deps import ApiActor, work

router = APIRouter(tags=["governance"])


@router.get("/coverage", response_model=CoverageOut)
def coverage(actor: ApiActor, request: Request) -> CoverageOut:
    """Return how many active stores in the caller's scope sit in a store group."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        figures = coverage_figures(session, tenant, coverage_in_scope(session, actor, tenant))
    return CoverageOut.model_validate(figures.as_dict())


@router.get("/audit", response_model=AuditOut)
def audit(actor: ApiActor, request: Request) -> AuditOut:
    """Return the rule breaches of the groups in the caller's scope."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        breaches = audit_groups(session, tenant, groups_in_scope(session, actor, tenant))
    return AuditOut(
        breaches=[BreachOut(group_id=b.group_id, rule=b.rule, detail=b.detail) for b in breaches]
    )


@router.post("/handovers", response_model=HandoverOut)
def handover(body: HandoverIn, actor: ApiActor, request: Request) -> HandoverOut:
    """Hand a person's stores, groups and reports to a colleague of the same role."""
    require_handover(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        access_staff(session, actor, tenant, body.from_id)
        access_staff(session, actor, tenant, body.to_id)
        report = do_handover(session, tenant, body.from_id, body.to_id)
    return HandoverOut(
        stores=report.stores,
        groups=report.groups,
        reports=report.reports,
        seats_closed=report.seats_closed,
        seats_opened=report.seats_opened,
    )
