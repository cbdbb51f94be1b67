"""Activation events on their way to the event lake: red-packet sends and grabs, orders.

The packet and grab actions, flash-sale orders, completed 拼团 teams and 接龙 cutoffs write
``activation_events`` rows in their own transaction (an outbox; which orders, and when:
``order_events``). ``do_export_events_to_lake`` — run by the every-minute job — takes a tenant's
``pending_events``, appends them through the lake's ingestion (``do_ingest_events``, the path
of ``POST /api/v1/events``), then ``do_mark_events_exported``. Event ids are deterministic and
the lake drops an id it already has, so a batch appended twice (a crash between the append and
the mark's commit, or two workers at once) is still one batch in the lake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qunyun.activation.models import ActivationEvent
from qunyun.core.clock import utcnow
from qunyun.events.actions import do_ingest_events
from qunyun.org.models import Tenant

EXPORT_BATCH = 10_000
"""Events appended to the lake per ingestion call (each call refreshes its days' rollups)."""


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
    order_id: str | None = None


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
            order_id=row.order_id,
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


@dataclass(frozen=True)
class LakeExport:
    """What one export did: events marked exported, and how many of them were new to the lake.

    ``exported - appended`` events were in the lake already (an export repeated after a crash).
    """

    exported: int = 0
    appended: int = 0


def lake_record(event: EventRecord) -> dict[str, str | int | None]:
    """Return an event as a record of the lake's ingestion (the fields of ``/api/v1/events``)."""
    return {
        "event_id": event.event_id,
        "ts": event.ts.astimezone(UTC).isoformat(timespec="milliseconds"),
        "kind": event.kind,
        "group_id": event.group_id,
        "member_kind": event.member_kind,
        "member_id": event.member_id,
        "red_packet_id": None if event.red_packet_id is None else str(event.red_packet_id),
        "amount_fen": event.amount_fen,
        "order_id": event.order_id,
    }


def do_export_events_to_lake(
    session: Session,
    tenant: Tenant,
    *,
    root: Path | None = None,
    batch: int = EXPORT_BATCH,
    when: datetime | None = None,
) -> LakeExport:
    """Append the tenant's pending activation events to its lake and mark them exported.

    Each batch is appended before it is marked: a failure in between leaves the events
    pending, and the next export appends them again as duplicates the lake drops. The marks
    commit with the caller's unit of work. Raise Conflict when another process holds the
    tenant's lake (nothing is marked), EventsRejected when the lake refuses an event.
    """
    exported = appended = 0
    while events := pending_events(session, tenant, limit=batch):
        result = do_ingest_events(
            tenant, [lake_record(event) for event in events], skip_invalid=False, root=root
        )
        appended += result.accepted
        exported += do_mark_events_exported(
            session, tenant, [event.event_id for event in events], when
        )
        if len(events) < batch:
            break
    return LakeExport(exported=exported, appended=appended)
