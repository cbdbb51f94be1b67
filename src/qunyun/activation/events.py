"""Activation events waiting for the event lake (``red_packet_send``, ``red_packet_grab``).

The lake's ingestion (``do_ingest_events`` on the events branch) reads ``pending_events``,
appends them, then calls ``do_mark_events_exported``; event ids are deterministic, so a batch
ingested twice after a crash stays one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qunyun.activation.models import ActivationEvent
from qunyun.core.clock import utcnow
from qunyun.org.models import Tenant


@dataclass(frozen=True)
class EventRecord:
    """One event as the lake stores it."""

    event_id: str
    ts: datetime
    kind: str
    group_id: str
    member_kind: str
    member_id: str
    red_packet_id: int | None
    amount_fen: int | None


def pending_events(session: Session, tenant: Tenant, limit: int = 10_000) -> list[EventRecord]:
    """Return up to ``limit`` events not yet exported, oldest first."""
    rows = session.scalars(
        select(ActivationEvent)
        .where(ActivationEvent.tenant_id == tenant.id, ActivationEvent.exported_at.is_(None))
        .order_by(ActivationEvent.id)
        .limit(limit)
    ).all()
    return [
        EventRecord(
            event_id=row.event_id,
            ts=row.ts,
            kind=row.kind,
            group_id=row.group_id,
            member_kind=row.member_kind.value,
            member_id=row.member_id,
            red_packet_id=row.red_packet_id,
            amount_fen=row.amount_fen,
        )
        for row in rows
    ]


def do_mark_events_exported(
    session: Session, tenant: Tenant, event_ids: Sequence[str], when: datetime | None = None
) -> int:
    """Mark events as in the lake; return how many were pending."""
    if not event_ids:
        return 0
    result = session.execute(
        update(ActivationEvent)
        .where(
            ActivationEvent.tenant_id == tenant.id,
            ActivationEvent.event_id.in_(list(event_ids)),
            ActivationEvent.exported_at.is_(None),
        )
        .values(exported_at=when or utcnow())
        .returning(ActivationEvent.id)
    )
    return len(result.all())
