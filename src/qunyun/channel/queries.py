"""Reads of the channel package."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, aliased

from qunyun.channel.models import (
    Consumer,
    ContactKind,
    ContactTag,
    Distributor,
    Store,
    StoreStatus,
    Tag,
)
from qunyun.core.clock import local_date
from qunyun.core.db import in_chunks
from qunyun.groups.models import Group
from qunyun.org.models import RegionRow, Staff, Tenant


@dataclass
class TenantStatus:
    """Counts of a tenant's master data."""

    tenant: str
    name: str
    staff: int
    distributors: int
    stores: int
    consumers: int
    groups: int
    stores_active: int
    stores_by_region: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """Return the figures as plain JSON-ready values."""
        return {
            "tenant": self.tenant,
            "name": self.name,
            "staff": self.staff,
            "distributors": self.distributors,
            "stores": self.stores,
            "consumers": self.consumers,
            "groups": self.groups,
            "stores_active": self.stores_active,
            "stores_by_region": self.stores_by_region,
        }


def tenant_status(session: Session, tenant: Tenant) -> TenantStatus:
    """Return entity counts and stores per province (largest first) of ``tenant``."""

    def count(model: Any, *conditions: Any) -> int:
        query = (
            select(func.count()).select_from(model).where(model.tenant_id == tenant.id, *conditions)
        )
        return session.scalar(query) or 0

    leaf, province_row = aliased(RegionRow), aliased(RegionRow)
    province = (
        select(province_row.name, func.count())
        .select_from(Store)
        .join(leaf, leaf.code == Store.region_code)
        .join(province_row, province_row.code == leaf.province_code)
        .where(Store.tenant_id == tenant.id)
        .group_by(province_row.name)
        .order_by(func.count().desc(), province_row.name)
    )
    return TenantStatus(
        tenant=tenant.slug,
        name=tenant.name,
        staff=count(Staff),
        distributors=count(Distributor),
        stores=count(Store),
        consumers=count(Consumer),
        groups=count(Group),
        stores_active=count(Store, Store.status == StoreStatus.ACTIVE),
        stores_by_region=dict(session.execute(province).all()),
    )


def stores_of_reps(session: Session, tenant: Tenant, rep_ids: Sequence[str]) -> dict[str, str]:
    """Return the stores that ``rep_ids`` serve, as store id → rep id (by ``ix_stores_rep``)."""
    stores: dict[str, str] = {}
    for chunk in in_chunks(rep_ids):
        query = select(Store.store_id, Store.rep_id).where(
            Store.tenant_id == tenant.id, Store.rep_id.in_(chunk)
        )
        stores.update(session.execute(query).all())
    return stores


@dataclass(frozen=True)
class AwaitingHandover:
    """A person who left while stores or staff in post still sit with him."""

    staff_id: str
    name: str
    left_on: date
    """The day he left, in the tenant's zone."""
    stores: int
    reports: int


def awaiting_handover(session: Session, tenant: Tenant) -> list[AwaitingHandover]:
    """Return who left and still serves stores or manages staff in post, most stores first.

    These are the handovers still to do (``qunyun handover``): the import keeps such rows as
    they are, and the planner skips whoever left.
    """
    departed: dict[str, tuple[str, datetime]] = {}
    for staff_id, name, left_at in session.execute(
        select(Staff.staff_id, Staff.name, Staff.left_at).where(
            Staff.tenant_id == tenant.id, Staff.left_at.is_not(None)
        )
    ):
        if left_at is not None:  # always (the condition above); narrows the type
            departed[staff_id] = (name, left_at)
    stores: dict[str, int] = {}
    reports: dict[str | None, int] = {}
    for chunk in in_chunks(sorted(departed)):
        stores.update(
            session.execute(
                select(Store.rep_id, func.count())
                .where(Store.tenant_id == tenant.id, Store.rep_id.in_(chunk))
                .group_by(Store.rep_id)
            ).all()
        )
        reports.update(
            session.execute(
                select(Staff.manager_id, func.count())
                .where(
                    Staff.tenant_id == tenant.id,
                    Staff.manager_id.in_(chunk),
                    Staff.left_at.is_(None),
                )
                .group_by(Staff.manager_id)
            ).all()
        )
    waiting = [
        AwaitingHandover(
            staff_id,
            name,
            local_date(left_at, tenant.timezone),
            stores.get(staff_id, 0),
            reports.get(staff_id, 0),
        )
        for staff_id, (name, left_at) in departed.items()
        if staff_id in stores or staff_id in reports
    ]
    return sorted(waiting, key=lambda person: (-person.stores, -person.reports, person.staff_id))


def contact_tags(session: Session, tenant: Tenant, kind: ContactKind, contact_id: str) -> list[str]:
    """Return the tag names on one contact, sorted."""
    query = (
        select(Tag.name)
        .join(ContactTag, ContactTag.tag_id == Tag.id)
        .where(
            ContactTag.tenant_id == tenant.id,
            ContactTag.contact_kind == kind,
            ContactTag.contact_id == contact_id,
        )
        .order_by(Tag.name)
    )
    return list(session.scalars(query))


def store_page(
    session: Session,
    within: ColumnElement[bool],
    after: str | None,
    limit: int,
    rep_id: str | None = None,
) -> list[Store]:
    """Return up to ``limit`` stores matching ``within`` (and of one rep), by id after ``after``."""
    query = select(Store).where(within).order_by(Store.store_id)
    if after is not None:
        query = query.where(Store.store_id > after)
    if rep_id is not None:
        query = query.where(Store.rep_id == rep_id)
    return list(session.scalars(query.limit(limit)))
