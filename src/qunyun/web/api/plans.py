"""``/api/v1/plans``: compute, review and apply the matrix plan (HQ)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.orm import Session

from qunyun.groups.models import PlanRevision
from qunyun.groups.plans import do_apply_plan, do_compute_plan, pending_revision
from qunyun.groups.queries import plan_changes, plan_revision, plan_revisions
from qunyun.org.access import actor_tenant, require_planner, require_whole_tenant
from qunyun.web.api.schemas import ChangeOut, ChangePage, PlanOut, PlanPage, PlanRow
from qunyun.web.deps import ApiActor, work

router = APIRouter(tags=["plans"])

Cursor = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the previous page."),
]
RevisionId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The plan's number.")]


def plan_out(revision: PlanRevision) -> PlanOut:
    """Return a revision with its stored summary."""
    rows = json.loads(revision.summary) if revision.summary else []
    return PlanOut(
        id=revision.id,
        status=revision.status.value,
        computed_at=revision.computed_at,
        computed_by=revision.computed_by,
        applied_at=revision.applied_at,
        applied_by=revision.applied_by,
        summary=[PlanRow(**row) for row in rows],
    )


@router.post("/plans", response_model=PlanOut, status_code=201)
def compute_plan(
    actor: ApiActor,
    request: Request,
    rebalance: Annotated[bool, Query(description="Move stores whose attributes changed.")] = False,
) -> PlanOut:
    """Compute the four matrices against the current groups; keep it as the pending plan."""
    require_planner(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        summary = do_compute_plan(session, tenant, f"web:{actor.name}", rebalance=rebalance)
        return plan_out(session.get_one(PlanRevision, summary.revision_id))


@router.get("/plans/pending", response_model=PlanOut)
def get_pending_plan(actor: ApiActor, request: Request) -> PlanOut:
    """Return the pending plan with its summary (404 when there is none)."""
    require_whole_tenant(actor)
    with work(request) as session:
        return plan_out(pending_revision(session, actor_tenant(session, actor)))


@router.get("/plans/pending/changes", response_model=ChangePage)
def list_pending_changes(
    actor: ApiActor,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> ChangePage:
    """List the changes (the diff) of the pending plan, by id."""
    require_whole_tenant(actor)
    with work(request) as session:
        revision = pending_revision(session, actor_tenant(session, actor))
        return _change_page(session, revision.id, cursor, limit)


def _change_page(session: Session, revision_id: int, cursor: str | None, limit: int) -> ChangePage:
    """Return the page of a revision's changes after ``cursor`` (a change id)."""
    after = int(cursor) if cursor is not None else None
    changes = plan_changes(session, revision_id, after, limit + 1)
    items = [
        ChangeOut(
            id=change.id,
            kind=change.kind.value,
            group_id=change.group_id,
            group_name=change.group_name,
            matrix=change.matrix.value,
            territory_rep_id=change.territory_rep_id,
            member_kind=change.member_kind.value if change.member_kind else None,
            member_role=change.member_role.value if change.member_role else None,
            member_ids=change.member_ids.split("\n") if change.member_ids else [],
        )
        for change in changes[:limit]
    ]
    more = len(changes) > limit
    return ChangePage(items=items, next_cursor=str(items[-1].id) if more else None)


@router.post("/plans/pending/apply", response_model=PlanOut)
def apply_plan(actor: ApiActor, request: Request) -> PlanOut:
    """Apply the pending plan in one transaction (409 when the channel changed since)."""
    require_planner(actor)
    with work(request) as session:
        revision = do_apply_plan(session, actor_tenant(session, actor), f"web:{actor.name}")
        return plan_out(revision)


@router.get("/plans", response_model=PlanPage)
def list_plans(
    actor: ApiActor,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
) -> PlanPage:
    """List the plan revisions, newest first: pending, applied (when, by whom), superseded."""
    require_whole_tenant(actor)
    with work(request) as session:
        before = int(cursor) if cursor is not None else None
        revisions = plan_revisions(session, actor_tenant(session, actor), before, limit + 1)
        items = [plan_out(revision) for revision in revisions[:limit]]
    more = len(revisions) > limit
    return PlanPage(items=items, next_cursor=str(items[-1].id) if more else None)


@router.get("/plans/{revision_id}", response_model=PlanOut)
def get_plan(actor: ApiActor, request: Request, revision_id: RevisionId) -> PlanOut:
    """Return a plan revision with its summary, whatever its status (404 for another's)."""
    require_whole_tenant(actor)
    with work(request) as session:
        return plan_out(plan_revision(session, actor_tenant(session, actor), revision_id))


@router.get("/plans/{revision_id}/changes", response_model=ChangePage)
def list_plan_changes(
    actor: ApiActor,
    request: Request,
    revision_id: RevisionId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> ChangePage:
    """List the changes (the diff) of a plan revision, by id: what an applied plan did."""
    require_whole_tenant(actor)
    with work(request) as session:
        revision = plan_revision(session, actor_tenant(session, actor), revision_id)
        return _change_page(session, revision.id, cursor, limit)
