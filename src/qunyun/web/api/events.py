"""``/api/v1/events``: machines (and HQ) feed group events into the tenant's event lake."""

from __future__ import annotations

from fastapi import APIRouter, Request

from qunyun.events.actions import do_ingest_events
from qunyun.org.access import actor_tenant, require_event_writer
from qunyun.web.api.schemas import EventsIn, EventsOut, RejectedEventOut
from qunyun.web.deps import ApiActor, work

router = APIRouter(tags=["events"])


@router.post("/events", response_model=EventsOut, status_code=202)
def post_events(actor: ApiActor, request: Request, body: EventsIn) -> EventsOut:
    """Add a batch of events; the same ``event_id`` again is counted as a duplicate.

    Invalid records are skipped and listed with their index and reason; the valid ones are
    stored. Each call refreshes the rollups of the days it touches (a fraction of a second on
    a large lake), so feeds should send batches rather than single events.
    """
    require_event_writer(actor)
    with work(request) as session:
        tenant = actor_tenant(session, actor)
    result = do_ingest_events(tenant, body.events, skip_invalid=True)
    return EventsOut(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[RejectedEventOut(index=i, reason=reason) for i, reason in result.rejected],
    )
