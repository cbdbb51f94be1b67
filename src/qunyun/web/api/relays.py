"""红包接龙 relay API for staff: start a relay, read it, send its next round, stop it.

Staff send the next round on behalf of the member the last round's best luck asked (as in
the console), or that member sends it with a member token (``POST …/rounds``, what the H5
page's button does); members grab each round's packet with ``POST /red-packets/{id}/grab``. With Redis
hot state the grabs Redis acknowledged are applied first, so that a finished round is seen
finished.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from qunyun.activation.operations import RelayView, relay_detail
from qunyun.activation.redpackets import do_send_relay_round, do_start_relay, do_stop_relay
from qunyun.org.access import (
    Actor,
    access_group,
    access_in_group,
    actor_tenant,
    require_activator,
    require_reader,
)
from qunyun.org.models import Tenant
from qunyun.web.deps import ApiActor, ApiMember, NumericId, hot, member_tenant, work
from qunyun.web.errors import REFUSALS

router = APIRouter(tags=["red-packet relays"])


class RelayIn(BaseModel):
    """A relay: every round's packet (total and shares) and how many rounds."""

    model_config = ConfigDict(extra="forbid")

    group_id: Annotated[str, Field(min_length=1, max_length=64)]
    total_fen: Annotated[int, Field(ge=1, le=10**9)]
    count: Annotated[int, Field(ge=1, le=10_000)]
    rounds: Annotated[int, Field(ge=1, le=1000)]


class RelayCreatedOut(BaseModel):
    """The new relay and the packet of its first round."""

    id: int
    packet_id: int


class MemberOut(BaseModel):
    """A member of the group."""

    member_kind: str
    member_id: str


class RelayRoundOut(BaseModel):
    """One round: its packet and, once every share is taken, its best-luck grabber."""

    round: int
    packet_id: int
    sender_id: str
    total_fen: int
    count: int
    grabbed_count: int
    grabbed_fen: int
    status: Literal["open", "finished", "expired"]
    created_at: datetime
    best_luck_id: str | None
    best_luck_fen: int | None


class RelayOut(BaseModel):
    """A relay, where it stands, who is asked to send next, and its rounds (the first first)."""

    id: int
    group_id: str
    total_fen: int
    count: int
    rounds: int
    rounds_sent: int
    status: Literal["running", "done", "stopped"]
    next_sender: MemberOut | None = Field(
        description="The last finished round's best-luck grabber, asked to send the next one."
    )
    refunded_fen: int
    created_at: datetime
    closed_at: datetime | None
    packets: list[RelayRoundOut]


def _relay_out(view: RelayView) -> RelayOut:
    relay = view.relay
    asked = None
    if relay.next_sender_kind is not None and relay.next_sender_id is not None:
        asked = MemberOut(member_kind=relay.next_sender_kind.value, member_id=relay.next_sender_id)
    return RelayOut(
        id=relay.id,
        group_id=relay.group_id,
        total_fen=relay.total_fen,
        count=relay.count,
        rounds=relay.rounds,
        rounds_sent=relay.rounds_sent,
        status=relay.status.value,
        next_sender=asked,
        refunded_fen=relay.refunded_fen,
        created_at=relay.created_at,
        closed_at=relay.closed_at,
        packets=[
            RelayRoundOut(
                round=round_.number,
                packet_id=round_.packet_id,
                sender_id=round_.sender_id,
                total_fen=round_.total_fen,
                count=round_.count,
                grabbed_count=round_.grabbed_count,
                grabbed_fen=round_.grabbed_fen,
                status=round_.status.value,
                created_at=round_.created_at,
                best_luck_id=round_.best_luck_id,
                best_luck_fen=round_.best_luck_fen,
            )
            for round_ in view.rounds
        ],
    )


def _scoped_relay(
    request: Request, session: Session, actor: Actor, tenant: Tenant, relay_id: int
) -> RelayView:
    view = relay_detail(session, tenant, relay_id, hot(request))
    access_in_group(session, actor, tenant, view.group_id, f"没有红包接龙 {relay_id}")
    return view


@router.post("/relays", response_model=RelayCreatedOut, status_code=201, responses=REFUSALS)
def start_relay(body: RelayIn, actor: ApiActor, request: Request) -> RelayCreatedOut:
    """Start a relay in a group of the caller's scope and send round 1 (all rounds paid now)."""
    require_activator(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        access_group(session, actor, tenant, body.group_id)
        relay = do_start_relay(
            session, tenant, body.group_id, body.total_fen, body.count, body.rounds,
            sender_id=actor.name,
        )  # fmt: skip
        view = relay_detail(session, tenant, relay.id)
        return RelayCreatedOut(id=relay.id, packet_id=view.rounds[0].packet_id)


@router.get("/relays/{relay_id}", response_model=RelayOut)
def get_relay(relay_id: NumericId, actor: ApiActor, request: Request) -> RelayOut:
    """Return a relay with its rounds (404 outside the caller's scope)."""
    require_reader(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        return _relay_out(_scoped_relay(request, session, actor, tenant, relay_id))


@router.post(
    "/relays/{relay_id}/next", response_model=RelayOut, status_code=201, responses=REFUSALS
)
def send_next_round(relay_id: NumericId, actor: ApiActor, request: Request) -> RelayOut:
    """Send the next round on behalf of the member asked (409 ``round_open``, ``ended``)."""
    return _staff_act(request, actor, relay_id, do_send_relay_round)


@router.post(
    "/relays/{relay_id}/rounds", response_model=RelayCreatedOut, status_code=201,
    responses=REFUSALS,
)  # fmt: skip
def send_round_as_member(
    relay_id: NumericId, member: ApiMember, request: Request
) -> RelayCreatedOut:
    """Send the next round as the member the last round's best luck asked (member token).

    409 ``not_asked`` for any other member of the group, ``round_open`` while the round is
    grabbed, ``ended``; 404 for a member outside the relay's group.
    """
    with work(request) as session:
        tenant = member_tenant(session, member)
        packet = do_send_relay_round(
            session, tenant, relay_id, member.kind, member.member_id, hot=hot(request)
        )
        return RelayCreatedOut(id=relay_id, packet_id=packet.id)


@router.post("/relays/{relay_id}/stop", response_model=RelayOut, responses=REFUSALS)
def stop_relay(relay_id: NumericId, actor: ApiActor, request: Request) -> RelayOut:
    """Stop a relay between rounds; the unsent rounds return to the budget (409 ``round_open``)."""
    return _staff_act(request, actor, relay_id, do_stop_relay)


def _staff_act(
    request: Request, actor: Actor, relay_id: int, action: Callable[[Session, Tenant, int], object]
) -> RelayOut:
    """Run ``action`` on a relay of the actor's scope (404 outside it); return the relay after."""
    require_activator(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        _scoped_relay(request, session, actor, tenant, relay_id)
        action(session, tenant, relay_id)
        return _relay_out(relay_detail(session, tenant, relay_id))
