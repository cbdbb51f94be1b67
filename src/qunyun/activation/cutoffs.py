"""A tenant's 接龙 cutoff times: its own (set by an operator) or ``QUNYUN_ORDER_CUTOFFS``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from qunyun.activation.common import upsert
from qunyun.activation.models import OrderCutoffSetting
from qunyun.activation.schedule import parse_cutoffs, parse_time
from qunyun.core.clock import utcnow
from qunyun.core.errors import InvalidInput
from qunyun.core.settings import get_settings
from qunyun.org.models import Tenant


def default_cutoff_times() -> list[time]:
    """Return the cutoff times of tenants without their own (``QUNYUN_ORDER_CUTOFFS``)."""
    return parse_cutoffs(get_settings().order_cutoffs)


def tenant_cutoff_times(session: Session, tenant: Tenant) -> list[time]:
    """Return the tenant's local cutoff times of a day, earliest first."""
    own = session.scalar(
        select(OrderCutoffSetting.cutoffs).where(OrderCutoffSetting.tenant_id == tenant.id)
    )
    return default_cutoff_times() if own is None else parse_cutoffs(own)


def has_own_cutoff_times(session: Session, tenant: Tenant) -> bool:
    """Return whether the tenant has its own cutoff times (else the setting applies)."""
    found = session.scalar(
        select(OrderCutoffSetting.tenant_id).where(OrderCutoffSetting.tenant_id == tenant.id)
    )
    return found is not None


def check_cutoff_times(texts: Sequence[str]) -> list[time]:
    """Return the sorted times of ``HH:MM`` texts; raise InvalidInput naming a bad one."""
    times = set()
    for position, text in enumerate(texts, start=1):
        try:
            times.add(parse_time(text))
        except ValueError as error:
            raise InvalidInput(f"第 {position} 个截单时间 {text!r} 有误：应为 HH:MM") from error
    if not times:
        raise InvalidInput("至少需要一个截单时间（如 12:00 20:00）")
    if len(times) != len(texts):
        raise InvalidInput("截单时间有重复")
    return sorted(times)


def do_set_cutoff_times(
    session: Session, tenant: Tenant, texts: Sequence[str] | None
) -> list[time]:
    """Set the tenant's own cutoff times (None: back to ``QUNYUN_ORDER_CUTOFFS``); return them.

    Raise InvalidInput for a time that is not ``HH:MM``, a repeated time or no time at all.
    Today's lists follow the new times at once (a list closes at the day's last cutoff).
    """
    if texts is None:
        session.execute(delete(OrderCutoffSetting).where(OrderCutoffSetting.tenant_id == tenant.id))
        return default_cutoff_times()
    times = check_cutoff_times(texts)
    stored = ",".join(f"{at:%H:%M}" for at in times)
    session.execute(
        upsert(session, OrderCutoffSetting)
        .values(tenant_id=tenant.id, cutoffs=stored, updated_at=utcnow())
        .on_conflict_do_update(
            index_elements=["tenant_id"], set_={"cutoffs": stored, "updated_at": utcnow()}
        )
    )
    return times
