"""What falls due with time: expired red packets and 拼团 teams, 接龙 cutoffs, closed draws.

The scheduled jobs (``qunyun.jobs``) run these every minute, and ``qunyun jobs run`` runs
them once. Each is idempotent: it acts only on what is still due (conditional updates on the
status, the unique cutoff per tenant and moment), so that a second run, or two workers at
once, do nothing more.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from qunyun.activation.hot import RedisHotState
from qunyun.activation.models import OrderCutoff, OrderLine
from qunyun.activation.orderlists import CutoffSummary, do_cutoff, latest_cutoff
from qunyun.activation.redpackets import do_expire_red_packets
from qunyun.core.clock import utcnow
from qunyun.core.errors import Conflict
from qunyun.org.models import Tenant


def expire_red_packets(
    session: Session, tenant: Tenant, when: datetime, hot: RedisHotState | None
) -> list[tuple[int, int]]:
    """Expire the tenant's packets past their time; return (packet id, fen returned) of each."""
    return [
        (packet.id, packet.refunded_fen)
        for packet in do_expire_red_packets(session, tenant, when=when, hot=hot)
    ]


def do_make_due_cutoff(
    session: Session, tenant: Tenant, *, when: datetime | None = None
) -> CutoffSummary | None:
    """Make the tenant's latest cutoff at or before ``when`` unless it is made or has no lines.

    A worker that was down makes the latest missed cutoff, which locks every line added before
    it. Return the cutoff made now, or None.
    """
    when = when or utcnow()
    moment = latest_cutoff(session, tenant, when)
    made = session.scalar(
        select(OrderCutoff.id).where(
            OrderCutoff.tenant_id == tenant.id, OrderCutoff.cutoff_at == moment
        )
    )
    waiting = session.scalar(
        select(OrderLine.id)
        .where(
            OrderLine.tenant_id == tenant.id,
            OrderLine.cutoff_id.is_(None),
            OrderLine.added_at < moment,
        )
        .limit(1)
    )
    if made is not None or waiting is None:
        return None
    try:
        with session.begin_nested():
            return do_cutoff(session, tenant, moment)
    except Conflict:  # another worker made it meanwhile
        return None
