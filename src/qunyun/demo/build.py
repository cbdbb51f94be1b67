"""Build the demo tenant from generated files, through the import path a user takes."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qunyun.channel.imports import ENTITIES, do_import
from qunyun.channel.models import Distributor
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.demo.activation import do_create_demo_activation
from qunyun.demo.activity import generate_activity
from qunyun.demo.generator import BRAND_NAME, generate
from qunyun.events.actions import do_import_events
from qunyun.events.readers import records_table
from qunyun.events.schema import FIELDS
from qunyun.groups.plans import do_apply_plan, do_compute_plan, membership_rows
from qunyun.org.accounts import do_create_account
from qunyun.org.actions import do_create_tenant, do_delete_tenant
from qunyun.org.models import Staff, StaffRole, Tenant

DEMO_SLUG = "demo"
EVENT_FILE_SCHEMA = pa.schema([(name, pa.string()) for name in FIELDS])
DEMO_PASSWORD = "qunyun-demo"
"""Password of every demo login (the demo is for trying Qunyun out, never for real data)."""


def build_demo(
    folder: Path,
    *,
    stores: int,
    consumers: int | None,
    seed: int,
    days: int = 90,
    on_step: Callable[[str], None] = lambda message: None,
    progress_factory: Callable[[str], Any] | None = None,
) -> str:
    """Recreate tenant ``demo`` from freshly generated files; return a one-line summary.

    Each import is its own transaction, as when a person imports the four files one by one.
    Then ``days`` days of group activity, up to yesterday, go into the event lake through the
    event import (``events.parquet`` beside the other files).
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
    with unit_of_work() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == DEMO_SLUG)).one()
        on_step(do_create_demo_activation(session, tenant, seed=seed))
    events = _load_activity(folder, days, seed, on_step, progress_factory) if days else 0
    counts = files.counts
    return (
        f"租户 {DEMO_SLUG}（{BRAND_NAME}）：员工 {counts['staff']:,}、经销商 {counts['distributors']:,}、"
        f"门店 {counts['stores']:,}、消费者 {counts['consumers']:,}、社群 {created:,}、"
        f"事件 {events:,}"
    )


def _load_activity(
    folder: Path,
    days: int,
    seed: int,
    on_step: Callable[[str], None],
    progress_factory: Callable[[str], Any] | None,
) -> int:
    """Generate ``days`` days of activity up to yesterday, write it and import it; return events."""
    with unit_of_work() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == DEMO_SLUG)).one()
        memberships = list(membership_rows(session, tenant))
        session.expunge(tenant)
    zone = ZoneInfo(tenant.timezone)
    end = utcnow().astimezone(zone).date() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    on_step(f"生成 {start} 至 {end} 的社群活动（{days} 天）")
    _, events = generate_activity(
        memberships, start=start, days=days, seed=seed, zone=tenant.timezone
    )
    path = folder / "events.parquet"
    with pq.ParquetWriter(path, EVENT_FILE_SCHEMA, compression="zstd") as writer:
        while batch := list(itertools.islice(events, 100_000)):
            table, _ = records_table(batch)
            writer.write_table(table)
    progress = progress_factory("事件") if progress_factory else None
    if progress is not None:
        with progress.progress:
            report = do_import_events(tenant, path, progress=progress)
    else:
        report = do_import_events(tenant, path)
    on_step(f"导入事件 {path.name}：{report.accepted:,} 条")
    return report.accepted


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
