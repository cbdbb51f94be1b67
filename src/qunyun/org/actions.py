"""Writes of the org package: tenants and staff departures."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from qunyun.core.clock import DEFAULT_ZONE, utcnow
from qunyun.core.db import Base
from qunyun.core.errors import Conflict, InvalidInput, NotFound
from qunyun.org.models import Staff, Tenant

_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def check_create_tenant(
    session: Session, slug: str, name: str, company_account_id: str | None = None
) -> None:
    """Raise InvalidInput for a malformed slug, empty name or account, Conflict for a taken slug."""
    if company_account_id is not None and not 1 <= len(company_account_id.strip()) <= 64:
        raise InvalidInput("公司账号 --company-account 须为 1–64 个字符")
    if not _SLUG.match(slug):
        raise InvalidInput(
            f"租户标识 {slug!r} 不合法：2–40 个小写字母、数字或连字符，以字母开头（如 acme-drinks）"
        )
    if not name.strip():
        raise InvalidInput("品牌名称 --name 不能为空")
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"租户 {slug!r} 已存在")


def do_create_tenant(
    session: Session,
    slug: str,
    name: str,
    timezone: str = DEFAULT_ZONE,
    company_account_id: str | None = None,
) -> Tenant:
    """Create a tenant (a brand) after ``check_create_tenant``.

    Its groups are owned by ``company_account_id`` (default: the slug).
    """
    check_create_tenant(session, slug, name, company_account_id)
    tenant = Tenant(
        slug=slug,
        name=name.strip(),
        timezone=timezone,
        created_at=utcnow(),
        company_account_id=(company_account_id or slug).strip(),
    )
    session.add(tenant)
    session.flush()
    return tenant


def do_delete_tenant(session: Session, tenant: Tenant) -> None:
    """Delete a tenant and every row that belongs to it, children before parents."""
    import qunyun.models  # noqa: F401 - every table must be known, not only the imported ones

    for table in reversed(Base.metadata.sorted_tables):
        if table.name != "tenants" and "tenant_id" in table.c:
            session.execute(delete(table).where(table.c.tenant_id == tenant.id))
    session.execute(delete(Tenant).where(Tenant.id == tenant.id))


def do_staff_leave(
    session: Session, tenant: Tenant, staff_id: str, when: datetime | None = None
) -> Staff:
    """Record that a staff member left; their rows and history stay.

    Raise NotFound for an unknown id, Conflict when they already left.
    """
    staff = session.get(Staff, (tenant.id, staff_id), with_for_update=True)
    if staff is None:
        raise NotFound(f"没有员工 {staff_id!r}")
    if staff.left_at is not None:
        raise Conflict(f"员工 {staff_id} 已于 {staff.left_at:%Y-%m-%d} 离职")
    staff.left_at = when or utcnow()
    staff.updated_at = utcnow()
    bump_figures_version(session, tenant)  # the overview's leaders and uncovered reasons
    return staff


def bump_figures_version(session: Session, tenant: Tenant) -> None:
    """Raise the tenant's figures version: what readers derived from the figures is stale."""
    session.execute(
        update(Tenant)
        .where(Tenant.id == tenant.id)
        .values(figures_version=Tenant.figures_version + 1)
    )
