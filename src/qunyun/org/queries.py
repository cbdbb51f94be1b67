"""Reads of the org package."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from qunyun.org.models import Account, Staff, Tenant


def two_levels_above(
    session: Session, tenant_id: int, rep_ids: Iterable[str]
) -> dict[str, tuple[str | None, str | None]]:
    """Return, per rep, the ids of the rep's manager and that manager's manager.

    One query joins staff to itself twice; every store group seats these two people.
    """
    wanted = list(dict.fromkeys(rep_ids))
    if not wanted:
        return {}
    boss = aliased(Staff)
    query = (
        select(Staff.staff_id, Staff.manager_id, boss.manager_id)
        .outerjoin(boss, (boss.tenant_id == Staff.tenant_id) & (boss.staff_id == Staff.manager_id))
        .where(Staff.tenant_id == tenant_id)
    )
    result: dict[str, tuple[str | None, str | None]] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        for staff_id, first, second in session.execute(query.where(Staff.staff_id.in_(chunk))):
            result[staff_id] = (first, second)
    return result


def list_tenants(session: Session) -> list[Tenant]:
    """Return every tenant, by slug."""
    return list(session.scalars(select(Tenant).order_by(Tenant.slug)))


def list_accounts(session: Session, tenant: Tenant) -> list[Account]:
    """Return the tenant's accounts, by username."""
    return list(
        session.scalars(select(Account).where(Account.tenant_id == tenant.id).order_by(Account.id))
    )
