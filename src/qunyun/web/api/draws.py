"""Lucky draw API: staff open, close and reveal; members enter; anyone reads the verification.

The verification data (``GET /draws/{id}/verification``) needs no login: it names no member,
only tickets, and is everything needed to recompute the winners (see ``activation.draws``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from qunyun.activation.draws import (
    ALGORITHM,
    DrawView,
    Verification,
    do_close_draw,
    do_enter_draw,
    do_open_draw,
    do_reveal_draw,
    draw_detail,
    public_draw_verification,
)
from qunyun.org.access import (
    Actor,
    access_group,
    access_in_group,
    actor_tenant,
    require_activator,
    require_reader,
)
from qunyun.org.models import Tenant
from qunyun.web.deps import ApiActor, ApiMember, NumericId, member_tenant, work
from qunyun.web.errors import REFUSALS

router = APIRouter(tags=["lucky draws"])

Prize = Annotated[str, Field(min_length=1, max_length=200)]


class DrawIn(BaseModel):
    """A draw in a group: prizes by rank (or only a number of winners) and the entry window."""

    model_config = ConfigDict(extra="forbid")

    group_id: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    prizes: Annotated[list[Prize], Field(max_length=1000)] = []
    winners: Annotated[int | None, Field(ge=1, le=1000)] = None
    entries_open_at: AwareDatetime | None = None
    entries_close_at: AwareDatetime


class DrawCreatedOut(BaseModel):
    """The new draw and its commitment: the SHA-256 of the seed revealed after entries close."""

    id: int
    seed_hash: str


class ResultOut(BaseModel):
    """A winning ticket and its prize."""

    rank: int
    ticket: str
    prize: str


class VerificationOut(BaseModel):
    """Everything needed to recompute a draw's winners; no member is named."""

    draw_id: int
    title: str
    status: Literal["open", "closed", "drawn"]
    winners: int
    prizes: list[str]
    entries_close_at: datetime
    seed_hash: str
    seed: str | None = Field(description="Revealed once drawn; null before.")
    tickets: list[str] = Field(description="Every entry's ticket, sorted.")
    entries_digest: str = Field(description="SHA-256 of the sorted tickets joined by newlines.")
    results: list[ResultOut]
    algorithm: str


class EntryOut(BaseModel):
    """Who entered, with their ticket and rank once drawn."""

    member_kind: str
    member_id: str
    ticket: str
    entered_at: datetime
    rank: int | None


class DrawOut(VerificationOut):
    """A draw as staff see it: the public data, its group and who entered."""

    group_id: str
    entries_open_at: datetime | None
    entries: list[EntryOut]


class TicketOut(BaseModel):
    """The member's entry: the ticket the verification data lists."""

    ticket: str


def _verification_out(data: Verification) -> dict[str, object]:
    return {
        "draw_id": data.draw_id,
        "title": data.title,
        "status": data.status,
        "winners": data.winners,
        "prizes": data.prizes,
        "entries_close_at": data.entries_close_at,
        "seed_hash": data.seed_hash,
        "seed": data.seed,
        "tickets": data.tickets,
        "entries_digest": data.entries_digest,
        "results": [
            ResultOut(rank=rank, ticket=ticket, prize=prize) for rank, ticket, prize in data.results
        ],
        "algorithm": ALGORITHM,
    }


def _draw_out(view: DrawView) -> DrawOut:
    return DrawOut(
        **_verification_out(view.verification),
        group_id=view.group_id,
        entries_open_at=view.entries_open_at,
        entries=[
            EntryOut(
                member_kind=entry.member_kind.value,
                member_id=entry.member_id,
                ticket=entry.ticket,
                entered_at=entry.entered_at,
                rank=entry.rank,
            )
            for entry in view.entries
        ],
    )


def _scoped_draw(session: Session, actor: Actor, tenant: Tenant, draw_id: int) -> DrawView:
    view = draw_detail(session, tenant, draw_id)
    access_in_group(session, actor, tenant, view.group_id, f"没有抽奖 {draw_id}")
    return view


@router.post("/draws", response_model=DrawCreatedOut, status_code=201)
def open_draw(body: DrawIn, actor: ApiActor, request: Request) -> DrawCreatedOut:
    """Open a draw in a group of the caller's scope; its seed hash is public from now on."""
    require_activator(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        access_group(session, actor, tenant, body.group_id)
        draw = do_open_draw(
            session,
            tenant,
            body.group_id,
            body.title,
            body.entries_close_at,
            prizes=body.prizes,
            winners=body.winners,
            entries_open_at=body.entries_open_at,
        )
        return DrawCreatedOut(id=draw.id, seed_hash=draw.seed_hash)


@router.get("/draws/{draw_id}", response_model=DrawOut)
def get_draw(draw_id: NumericId, actor: ApiActor, request: Request) -> DrawOut:
    """Return a draw with its entries (404 outside the caller's scope)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        return _draw_out(_scoped_draw(session, actor, tenant, draw_id))


@router.post("/draws/{draw_id}/close", response_model=DrawOut, responses=REFUSALS)
def close_draw(draw_id: NumericId, actor: ApiActor, request: Request) -> DrawOut:
    """Close a draw's entries now (409 ``already_drawn`` once drawn)."""
    return _staff_act(request, actor, draw_id, do_close_draw)


@router.post("/draws/{draw_id}/reveal", response_model=DrawOut, responses=REFUSALS)
def reveal_draw(draw_id: NumericId, actor: ApiActor, request: Request) -> DrawOut:
    """Reveal the seed and draw the winners (409 ``not_closed`` or ``already_drawn``)."""
    return _staff_act(request, actor, draw_id, do_reveal_draw)


def _staff_act(
    request: Request, actor: Actor, draw_id: int, action: Callable[[Session, Tenant, int], object]
) -> DrawOut:
    """Run ``action`` on a draw of the actor's scope (404 outside it); return the draw after."""
    require_activator(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        _scoped_draw(session, actor, tenant, draw_id)
        action(session, tenant, draw_id)
        return _draw_out(draw_detail(session, tenant, draw_id))


@router.post(
    "/draws/{draw_id}/entries", response_model=TicketOut, status_code=201, responses=REFUSALS
)
def enter_draw(draw_id: NumericId, member: ApiMember, request: Request) -> TicketOut:
    """Enter the draw as the member (once; 404 when not in its group now)."""
    with work(request) as session:
        tenant = member_tenant(session, member)
        ticket = do_enter_draw(session, tenant, draw_id, member.kind, member.member_id)
    return TicketOut(ticket=ticket)


@router.get("/draws/{draw_id}/verification", response_model=VerificationOut)
def draw_verification(draw_id: NumericId, request: Request) -> VerificationOut:
    """Return a draw's public data: commitment, tickets, and once drawn the seed and winners."""
    with work(request) as session:
        data = public_draw_verification(session, draw_id)
    return VerificationOut(**_verification_out(data))
