"""Build the demo tenant from generated files, through the import path a user takes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qunyun.channel.imports import ENTITIES, do_import
from qunyun.channel.models import Distributor
from qunyun.core.db import unit_of_work
from qunyun.demo.generator import BRAND_NAME, generate
from qunyun.groups.plans import do_apply_plan, do_compute_plan
from qunyun.org.accounts import do_create_account
from qunyun.org.actions import do_create_tenant, do_delete_tenant
from qunyun.org.models import Staff, StaffRole, Tenant

DEMO_SLUG = "demo"
DEMO_PASSWORD = "qunyun-demo"
"""Password of every demo login (the demo is for trying Qunyun out, never for real data)."""


def build_demo(
    folder: Path,
    *,
    stores: int,
    consumers: int | None,
    seed: int,
    on_step: Callable[[str], None] = lambda message: None,
    progress_factory: Callable[[str], Any] | None = None,
) -> str:
    """Recreate tenant ``demo`` from freshly generated files; return a one-line summary.

    Each import is its own transaction, as when a person imports the four files one by one.
    """
    on_step(f"生成演示品牌「{BRAND_NAME}」：{stores:,} 家门店 → {folder}")
    files = generate(folder, stores=stores, consumers=consumers, seed=seed)
    with unit_of_work() as session:
        existing = session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        if existing is not None:
            on_step("删除旧的演示租户 demo")
            do_delete_tenant(session, existing)
            session.flush()
        do_create_tenant(session, DEMO_SLUG, BRAND_NAME)
    for entity, path in (
        ("staff", files.staff),
        ("distributors", files.distributors),
        ("stores", files.stores),
        ("consumers", files.consumers),
    ):
        progress = progress_factory(ENTITIES[entity].label) if progress_factory else None
        with unit_of_work() as session:
            tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
            assert tenant is not None
            if progress is not None:
                with progress.progress:
                    report = do_import(session, tenant, entity, path, progress=progress)
            else:
                report = do_import(session, tenant, entity, path)
        on_step(f"导入{ENTITIES[entity].label} {path.name}：{report.inserted:,} 行")
    with unit_of_work() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == DEMO_SLUG)).one()
        summary = do_compute_plan(session, tenant, "demo")
    with unit_of_work() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == DEMO_SLUG)).one()
        do_apply_plan(session, tenant, "demo")
    created = summary.totals()["groups_created"]
    on_step(f"规划并应用社群矩阵：{created:,} 个群（计划 #{summary.revision_id}）")
    with unit_of_work() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == DEMO_SLUG)).one()
        do_create_demo_accounts(session, tenant)
    counts = files.counts
    return (
        f"租户 {DEMO_SLUG}（{BRAND_NAME}）：员工 {counts['staff']:,}、经销商 {counts['distributors']:,}、"
        f"门店 {counts['stores']:,}、消费者 {counts['consumers']:,}、社群 {created:,}"
    )


def do_create_demo_accounts(session: Session, tenant: Tenant) -> None:
    """Create one login per role, tied to the first rep, his chain, an admin and a distributor.

    Logins: ``hq``, ``manager``, ``supervisor``, ``rep``, ``admin``, ``distributor``,
    ``analyst``, all with ``DEMO_PASSWORD``.
    """
    staff = {
        person.staff_id: person
        for person in session.scalars(select(Staff).where(Staff.tenant_id == tenant.id))
    }
    rep = min(sid for sid, person in staff.items() if person.role is StaffRole.REP)
    supervisor = staff[rep].manager_id
    manager = staff[supervisor].manager_id if supervisor else None
    admin = min(sid for sid, person in staff.items() if person.role is StaffRole.GROUP_ADMIN)
    distributor = session.scalar(
        select(func.min(Distributor.distributor_id)).where(
            Distributor.tenant_id == tenant.id, Distributor.tier == 1
        )
    )
    logins: list[tuple[str, str, str | None, str | None]] = [
        ("hq", "hq_admin", None, None),
        ("manager", "manager", manager, None),
        ("supervisor", "supervisor", supervisor, None),
        ("rep", "rep", rep, None),
        ("admin", "group_admin", admin, None),
        ("distributor", "distributor", None, distributor),
        ("analyst", "analyst", None, None),
    ]
    for username, role, staff_id, distributor_id in logins:
        do_create_account(
            session,
            tenant,
            username,
            DEMO_PASSWORD,
            role,
            staff_id=staff_id,
            distributor_id=distributor_id,
        )
