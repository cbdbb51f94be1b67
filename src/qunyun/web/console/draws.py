"""Console pages of lucky draws (抽奖): a group's draws, opening one, drawing it, its proof.

A draw's page shows what anyone can check — the hash committed when it opened, and after the
draw the seed, the sorted tickets and the winners — and whether they verify, by the same
``check_verification`` that ``qunyun draw verify`` runs. Scope and permissions are those of
the other activation pages (``web.console.activation``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, StringConstraints
from sqlalchemy.orm import Session

from qunyun.activation.draws import (
    ALGORITHM,
    MAX_WINNERS,
    DrawView,
    check_verification,
    do_draw_now,
    do_open_draw,
    draw_detail,
    group_draws,
)
from qunyun.activation.hot import RedisHotState
from qunyun.core.clock import utcnow
from qunyun.org.access import Actor, access_group, require_activator
from qunyun.org.models import Tenant
from qunyun.web.console.activation import (
    FormText,
    ObjectPage,
    Section,
    act_on_object,
    create_in_group,
    input_time,
    object_page,
    parse_moment,
    parse_whole,
    section_context,
    section_page,
)
from qunyun.web.console.pages import ConsoleActor, CsrfChecked, ObjectId, _actor
from qunyun.web.deps import NumericId

router = APIRouter()

PrizeLines = Annotated[str, StringConstraints(max_length=201 * MAX_WINNERS)]
"""The prizes as typed: one a line, rank 1 first (each at most 200 characters)."""
ENTRIES_OPEN_FOR = timedelta(hours=1)
"""How long the new-draw form lets members enter by default."""


class DrawForm(BaseModel):
    """The form that opens a draw, as typed; the names are the action's fields."""

    title: FormText = ""
    prizes: PrizeLines = ""
    winners: FormText = ""
    entries_close_at: FormText = ""

    def prize_list(self) -> list[str]:
        """Return the prizes, one a line, blank lines left out."""
        return [line.strip() for line in self.prizes.splitlines() if line.strip()]

    def winner_count(self) -> int | None:
        """Return the number of winners typed, None when left empty (one per prize then)."""
        return parse_whole(self.winners, "中奖人数") if self.winners.strip() else None


def _draws_context(session: Session, actor: Actor, tenant: Tenant, group_id: str) -> dict[str, Any]:
    group = access_group(session, actor, tenant, group_id)
    closes = utcnow().replace(second=0, microsecond=0) + ENTRIES_OPEN_FOR
    return {
        **section_context(actor, tenant, group_id, "draws"),
        "group": group,
        "draws": group_draws(session, tenant, group_id),
        "form": DrawForm(entries_close_at=input_time(closes, tenant.timezone)).model_dump(),
    }


def _draw_detail(
    session: Session, tenant: Tenant, draw_id: int, _hot: RedisHotState | None
) -> DrawView:
    return draw_detail(session, tenant, draw_id)


def _proof(view: DrawView) -> dict[str, Any]:
    """Return what the page shows of the draw's proof: the data, the algorithm, the check."""
    return {
        "draw": view.verification,
        "algorithm": ALGORITHM,
        "problems": check_verification(view.verification),
        "holders": {entry.ticket: entry for entry in view.entries},
    }


DRAWS = Section("draws", _draws_context, "draws")
DRAW = ObjectPage("activation_draw.html", "draws", "抽奖", _draw_detail, _proof)


@router.get("/groups/{group_id}/draws", response_class=HTMLResponse)
def draws_page(request: Request, group_id: ObjectId) -> Response:
    """Show a group's lucky draws (status, entries, committed hash) and the form to open one."""
    return section_page(request, _actor(request), group_id, DRAWS)


@router.post("/groups/{group_id}/draws", response_class=HTMLResponse)
def open_draw(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    group_id: ObjectId,
    form: Annotated[DrawForm, Form()],
) -> Response:
    """Open a draw in the group (its seed hash is public from now on); then show it."""
    require_activator(actor)
    return create_in_group(
        request, actor, group_id, DRAWS,
        lambda session, tenant: do_open_draw(
            session, tenant, group_id, form.title,
            parse_moment(form.entries_close_at, "报名截止时间", tenant.timezone),
            prizes=form.prize_list(), winners=form.winner_count(),
        ),
        form.model_dump(),
    )  # fmt: skip


@router.get("/draws/{draw_id}", response_class=HTMLResponse)
def draw_page(request: Request, draw_id: NumericId) -> Response:
    """Show a draw: its entries, and its proof (hash, seed, tickets, winners) and check."""
    return object_page(request, _actor(request), draw_id, DRAW)


@router.post("/draws/{draw_id}/draw", response_class=HTMLResponse)
def draw_now(
    request: Request, actor: ConsoleActor, _csrf: CsrfChecked, draw_id: NumericId
) -> Response:
    """Close the draw's entries now (if still open), reveal its seed and draw the winners."""
    return act_on_object(request, actor, draw_id, DRAW, do_draw_now, "draw_was_drawn")
