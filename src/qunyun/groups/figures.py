"""Pre-aggregated figures of the matrix: member counts, coverage cells and gaps.

The console's overview and the group lists must not read every store and every stay on each
request (2 million stores, 50,000 groups). The writes that change these figures — plan apply,
handover, store imports, joins and leaves — call the ``refresh_*`` functions here at the end
of their own transaction; each recomputes, from the rows, only the part the write touched
(the reps whose stores or stays changed, the groups whose stays changed) and raises the
tenant's ``figures_version``, so that readers may cache what they derive per version.

A write that goes around these actions (raw SQL) leaves the figures behind until the next
refresh of the same reps or groups; ``refresh_coverage(session, tenant)`` recomputes all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind, Store, StoreStatus
from qunyun.core.bulk import BulkWriter
from qunyun.core.db import in_chunks, whole_tenant
from qunyun.core.settings import get_settings
from qunyun.groups.governance import Coverage
from qunyun.groups.models import (
    CoverageCell,
    CoverageGap,
    Group,
    Matrix,
    MemberRole,
    Membership,
)
from qunyun.org.actions import bump_figures_version
from qunyun.org.models import Staff, Tenant
from qunyun.org.regions import catalogue

CHUNK = 500
"""Reps or groups per statement (bound-parameter lists have a limit)."""


def refresh_member_counts(
    session: Session, tenant: Tenant, group_ids: Collection[str] | None = None
) -> None:
    """Recompute ``Group.member_count`` of ``group_ids`` (None: every group of the tenant)."""
    count = (
        select(func.count())
        .where(
            Membership.tenant_id == Group.tenant_id,
            Membership.group_id == Group.group_id,
            Membership.left_at.is_(None),
        )
        .scalar_subquery()
    )
    statement = update(Group).where(Group.tenant_id == tenant.id).values(member_count=count)
    if group_ids is None:
        session.execute(statement)
    else:
        for chunk in in_chunks(sorted(set(group_ids)), CHUNK):
            session.execute(statement.where(Group.group_id.in_(chunk)))
    bump_figures_version(session, tenant)


def _seated(tenant: Tenant, reps: Sequence[str] | None) -> Select[str, int, int]:
    """Return (store id, in a store group, in a VIP group) of the stores with a customer stay."""
    query = (
        select(
            Membership.member_id.label("store_id"),
            func.max(case((Group.matrix == Matrix.STORE, 1), else_=0)).label("in_store"),
            func.max(case((Group.matrix == Matrix.VIP, 1), else_=0)).label("in_vip"),
        )
        .join(
            Group,
            (Group.tenant_id == Membership.tenant_id) & (Group.group_id == Membership.group_id),
        )
        .where(
            Membership.tenant_id == tenant.id,
            Membership.member_kind == ContactKind.STORE,
            Membership.role == MemberRole.CUSTOMER,
            Membership.left_at.is_(None),
            Group.archived_at.is_(None),
            Group.matrix.in_([Matrix.STORE, Matrix.VIP]),
        )
        .group_by(Membership.member_id)
    )
    if reps is not None:
        query = query.where(
            Membership.member_id.in_(
                select(Store.store_id).where(Store.tenant_id == tenant.id, Store.rep_id.in_(reps))
            )
        )
    return query


def refresh_coverage(
    session: Session, tenant: Tenant, rep_ids: Collection[str] | None = None
) -> None:
    """Recompute the coverage cells and gaps of ``rep_ids``' stores (None: every store).

    Call it after a write that changes stores (status, rep, region, distributor) or the
    customer stays of stores, with the reps of the stores before and after the write.
    """
    if rep_ids is not None and not rep_ids:
        return
    if rep_ids is None:
        _refresh_all_coverage(session, tenant)
        bump_figures_version(session, tenant)
        return
    batches: list[Sequence[str] | None] = (
        [None] if rep_ids is None else list(in_chunks(sorted(set(rep_ids)), CHUNK))
    )
    for reps in batches:
        for table in (CoverageCell, CoverageGap):
            statement = delete(table).where(table.tenant_id == tenant.id)
            if reps is not None:
                statement = statement.where(table.rep_id.in_(reps))
            session.execute(statement)
        seated = _seated(tenant, reps).subquery()
        stores = (
            select(Store)
            .outerjoin(seated, seated.c.store_id == Store.store_id)
            .where(Store.tenant_id == tenant.id, Store.status == StoreStatus.ACTIVE)
        )
        if reps is not None:
            stores = stores.where(Store.rep_id.in_(reps))
        cells = stores.with_only_columns(
            Store.tenant_id,
            Store.rep_id,
            Store.region_code,
            func.count(),
            func.coalesce(func.sum(seated.c.in_store), 0),
            func.count(seated.c.store_id),
        ).group_by(Store.tenant_id, Store.rep_id, Store.region_code)
        session.execute(
            insert(CoverageCell).from_select(
                ["tenant_id", "rep_id", "region_code", "active", "in_store_group", "in_any_group"],
                cells,
            )
        )
        gaps = stores.with_only_columns(
            Store.tenant_id,
            Store.store_id,
            Store.rep_id,
            Store.region_code,
            Store.distributor_id,
            func.coalesce(seated.c.in_vip, 0) == 1,
        ).where(func.coalesce(seated.c.in_store, 0) == 0)
        session.execute(
            insert(CoverageGap).from_select(
                [
                    "tenant_id",
                    "store_id",
                    "rep_id",
                    "region_code",
                    "distributor_id",
                    "in_vip_group",
                ],
                gaps,
            )
        )
    bump_figures_version(session, tenant)


def _clear_gaps(session: Session, tenant: Tenant) -> None:
    """Delete every coverage gap of ``tenant``: the whole table when all of its rows are.

    On SQLite a DELETE without WHERE drops the table's pages instead of visiting each row
    (1.9 M gaps: 0.8 s against 27 s). Called after the cells' delete, which takes SQLite's
    write lock for the transaction: no other brand's gap can appear between the check and
    the delete.
    """
    statement = delete(CoverageGap)
    if session.get_bind().dialect.name != "sqlite" or session.scalar(
        select(
            exists().where(CoverageGap.tenant_id < tenant.id)
            | exists().where(CoverageGap.tenant_id > tenant.id)
        )
    ):
        statement = statement.where(CoverageGap.tenant_id == tenant.id)
    session.execute(statement)


def _refresh_all_coverage(session: Session, tenant: Tenant) -> None:
    """Recompute every cell and gap in one pass over the stores and the store stays.

    The same figures as the per-rep statements, aggregated here: SQLite's plan for the
    tenant-wide join (a temporary B-tree over every store) took 20 s at 200,000 stores; the
    stays are read without joining the groups (the open store and VIP groups are few).
    """
    session.execute(delete(CoverageCell).where(CoverageCell.tenant_id == tenant.id))
    _clear_gaps(session, tenant)
    matrix_of = dict(
        session.execute(
            select(Group.group_id, Group.matrix).where(
                Group.tenant_id == tenant.id,
                Group.archived_at.is_(None),
                Group.matrix.in_([Matrix.STORE, Matrix.VIP]),
            )
        ).all()
    )
    seats = select(Membership.member_id, Membership.group_id).where(
        whole_tenant(session, Membership.tenant_id) == tenant.id,
        Membership.member_kind == ContactKind.STORE,
        Membership.role == MemberRole.CUSTOMER,
        Membership.left_at.is_(None),
    )
    in_store: set[str] = set()
    in_vip: set[str] = set()
    connection = session.connection()  # Core rows: the ORM's row loading cost seconds here
    for store_id, group_id in connection.execute(seats):
        matrix = matrix_of.get(group_id)
        if matrix is not None:
            (in_store if matrix is Matrix.STORE else in_vip).add(store_id)
    cells: dict[tuple[str, str], list[int]] = {}
    gaps: list[list[object]] = []
    stores = select(Store.store_id, Store.rep_id, Store.region_code, Store.distributor_id).where(
        whole_tenant(session, Store.tenant_id) == tenant.id, Store.status == StoreStatus.ACTIVE
    )
    for store_id, rep_id, region_code, distributor_id in connection.execute(stores):
        cell = cells.get((rep_id, region_code))
        if cell is None:
            cell = cells[(rep_id, region_code)] = [0, 0, 0]
        cell[0] += 1
        if store_id in in_store:
            cell[1] += 1
            cell[2] += 1
            continue
        is_vip = store_id in in_vip
        cell[2] += is_vip
        gaps.append([tenant.id, store_id, rep_id, region_code, distributor_id, is_vip])
    BulkWriter(connection, CoverageCell.__table__).insert(  # type: ignore[arg-type]
        ["tenant_id", "rep_id", "region_code", "active", "in_store_group", "in_any_group"],
        [[tenant.id, rep, region, *counts] for (rep, region), counts in cells.items()],
    )
    BulkWriter(connection, CoverageGap.__table__).insert(  # type: ignore[arg-type]
        ["tenant_id", "store_id", "rep_id", "region_code", "distributor_id", "in_vip_group"], gaps
    )


Mark = tuple[str, str, str | None, bool, bool]
"""A store's share of the coverage: (rep, region, distributor, in a store group, in a VIP group)."""


def coverage_marks(session: Session, tenant: Tenant, store_ids: Collection[str]) -> dict[str, Mark]:
    """Return the coverage share of each active store of ``store_ids`` (by primary key).

    Read it before a write that changes these stores or their customer stays and pass it to
    ``refresh_store_coverage`` after: the cells move by the difference, in time proportional
    to the stores, not to their reps' territories.
    """
    marks: dict[str, Mark] = {}
    for chunk in in_chunks(sorted(set(store_ids)), CHUNK):
        seats = {
            store_id: (bool(in_store), bool(in_vip))
            for store_id, in_store, in_vip in session.execute(
                _seated(tenant, None).where(Membership.member_id.in_(chunk))
            )
        }
        for store_id, rep_id, region_code, distributor_id in session.execute(
            select(Store.store_id, Store.rep_id, Store.region_code, Store.distributor_id).where(
                Store.tenant_id == tenant.id,
                Store.store_id.in_(chunk),
                Store.status == StoreStatus.ACTIVE,
            )
        ):
            marks[store_id] = (
                rep_id,
                region_code,
                distributor_id,
                *seats.get(store_id, (False, False)),
            )
    return marks


def refresh_store_coverage(
    session: Session, tenant: Tenant, before: Mapping[str, Mark], store_ids: Collection[str]
) -> None:
    """Move the coverage figures of ``store_ids`` from ``before`` to the stores' state now.

    ``before`` is ``coverage_marks`` of the stores read before the write. Their gaps are
    rewritten, and the cells of their reps before and after change by the difference (a cell
    left without active stores goes, as a recount would not make it).
    """
    if not store_ids:
        return
    after = coverage_marks(session, tenant, store_ids)
    before = {store_id: before[store_id] for store_id in store_ids if store_id in before}
    delta: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for marks, sign in ((before, -1), (after, 1)):
        for rep_id, region_code, _, in_store, in_vip in marks.values():
            cell = delta[(rep_id, region_code)]
            cell[0] += sign
            cell[1] += sign * in_store
            cell[2] += sign * (in_store or in_vip)
    ids = sorted(set(store_ids))
    for chunk in in_chunks(ids, CHUNK):
        session.execute(
            delete(CoverageGap).where(
                CoverageGap.tenant_id == tenant.id, CoverageGap.store_id.in_(chunk)
            )
        )
    connection = session.connection()
    BulkWriter(connection, CoverageGap.__table__).insert(  # type: ignore[arg-type]
        ["tenant_id", "store_id", "rep_id", "region_code", "distributor_id", "in_vip_group"],
        [
            [tenant.id, store_id, rep_id, region_code, distributor_id, in_vip]
            for store_id, (rep_id, region_code, distributor_id, in_store, in_vip) in after.items()
            if not in_store
        ],
    )
    changed = {key: counts for key, counts in delta.items() if any(counts)}
    current: dict[tuple[str, str], tuple[int, int, int]] = {}
    for reps in in_chunks(sorted({rep for rep, _ in changed}), CHUNK):
        for rep_id, region_code, active, stored, seated in session.execute(
            select(
                CoverageCell.rep_id,
                CoverageCell.region_code,
                CoverageCell.active,
                CoverageCell.in_store_group,
                CoverageCell.in_any_group,
            ).where(CoverageCell.tenant_id == tenant.id, CoverageCell.rep_id.in_(reps))
        ):
            current[(rep_id, region_code)] = (active, stored, seated)
    inserts: list[list[object]] = []
    updates: list[list[object]] = []
    gone: list[tuple[object, ...]] = []
    for (rep_id, region_code), counts in changed.items():
        old = current.get((rep_id, region_code))
        new = [a + b for a, b in zip(old or (0, 0, 0), counts, strict=True)]
        if new[0] <= 0:
            if old is not None:
                gone.append((tenant.id, rep_id, region_code))
        elif old is None:
            inserts.append([tenant.id, rep_id, region_code, *new])
        else:
            updates.append([*new, tenant.id, rep_id, region_code])
    cells = BulkWriter(connection, CoverageCell.__table__)  # type: ignore[arg-type]
    key = ["tenant_id", "rep_id", "region_code"]
    cells.update(["active", "in_store_group", "in_any_group"], key, updates)
    cells.execute_many(
        "DELETE FROM coverage_cells WHERE tenant_id = ? AND rep_id = ? AND region_code = ?", gone
    )
    cells.insert([*key, "active", "in_store_group", "in_any_group"], inserts)
    bump_figures_version(session, tenant)


def store_reps(session: Session, tenant: Tenant, store_ids: Collection[str]) -> set[str]:
    """Return the reps of the stores (to refresh after their stays changed)."""
    reps: set[str] = set()
    for chunk in in_chunks(sorted(set(store_ids)), CHUNK):
        # no DISTINCT: SQLite would answer it by walking ix_stores_rep over the whole tenant
        reps.update(
            session.scalars(
                select(Store.rep_id).where(Store.tenant_id == tenant.id, Store.store_id.in_(chunk))
            )
        )
    return reps


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageScope:
    """Conditions selecting an actor's share of the coverage figures (from ``org.access``).

    ``cells`` is None when the scope is not a union of (rep, division) cells — a distributor's
    network, a group admin's groups: the counts then come from the scope's stores.
    """

    stores: ColumnElement[bool]
    cells: ColumnElement[bool] | None
    gaps: ColumnElement[bool]


@dataclass
class CoverageFigures(Coverage):
    """Active and covered stores in a scope, per province and rep, and the first gaps.

    ``uncovered`` lists the first gaps only; ``uncovered_count`` counts them all.
    """

    uncovered_count: int = 0


def coverage_figures(
    session: Session, tenant: Tenant, scope: CoverageScope, uncovered_limit: int | None = None
) -> CoverageFigures:
    """Return the coverage in ``scope`` from the pre-aggregated cells and gaps.

    The cost grows with the cells (reps × divisions) in scope, or with the stores in scope when
    it has no cells, and with ``uncovered_limit`` — never with the tenant's stores.
    """
    in_vip_covers = not get_settings().vip_in_base_group
    gap_rows = select(CoverageGap).where(scope.gaps)
    if in_vip_covers:
        gap_rows = gap_rows.where(CoverageGap.in_vip_group.is_(False))
    cells: list[tuple[str, str, int, int]]
    if scope.cells is not None:
        covered = CoverageCell.in_any_group if in_vip_covers else CoverageCell.in_store_group
        cells = [
            (rep, region, active, count)
            for rep, region, active, count in session.execute(
                select(
                    CoverageCell.rep_id,
                    CoverageCell.region_code,
                    CoverageCell.active,
                    covered,
                ).where(scope.cells)
            )
        ]
    else:
        active_by = {
            (rep, region): count
            for rep, region, count in session.execute(
                select(Store.rep_id, Store.region_code, func.count())
                .where(scope.stores, Store.status == StoreStatus.ACTIVE)
                .group_by(Store.rep_id, Store.region_code)
            )
        }
        missing_by = {
            (rep, region): count
            for rep, region, count in session.execute(
                gap_rows.with_only_columns(
                    CoverageGap.rep_id, CoverageGap.region_code, func.count()
                ).group_by(CoverageGap.rep_id, CoverageGap.region_code)
            )
        }
        cells = [
            (rep, region, active, active - missing_by.get((rep, region), 0))
            for (rep, region), active in active_by.items()
        ]
    by_region: dict[str, dict[str, int]] = {}
    by_rep: dict[str, dict[str, int]] = {}
    regions = catalogue().by_code
    province_of: dict[str, str] = {}
    active_total = covered_total = 0
    for rep, region, active, count in cells:
        if not active:
            continue
        province = province_of.get(region)
        if province is None:
            province = province_of[region] = regions[regions[region].province_code].name
        for table, key in ((by_region, province), (by_rep, rep)):
            counts = table.setdefault(key, {"active": 0, "covered": 0})
            counts["active"] += active
            counts["covered"] += count
        active_total += active
        covered_total += count
    listed = gap_rows.with_only_columns(CoverageGap.store_id, CoverageGap.rep_id).order_by(
        CoverageGap.store_id
    )
    if uncovered_limit is not None:
        listed = listed.limit(uncovered_limit)
    gaps = session.execute(listed).all()
    departed_query = select(Staff.staff_id).where(
        Staff.tenant_id == tenant.id, Staff.left_at.is_not(None)
    )
    if uncovered_limit is not None:  # a few reps: by id; else the tenant's few leavers
        departed_query = departed_query.where(Staff.staff_id.in_(sorted({r for _, r in gaps})))
    departed = set(session.scalars(departed_query))
    return CoverageFigures(
        active_total,
        covered_total,
        dict(sorted(by_region.items())),
        dict(sorted(by_rep.items())),
        [
            {"store_id": store_id, "rep_id": rep_id, "reason": uncovered_reason(rep_id, departed)}
            for store_id, rep_id in gaps
        ],
        active_total - covered_total,
    )


def uncovered_reason(rep_id: str, departed: Collection[str]) -> str:
    """Return why a store is outside every store group, and what to do about it."""
    if rep_id in departed:
        return f"业务员 {rep_id} 已离职：请交接（qunyun handover）后重新规划"
    return "尚未入群：运行 qunyun plan 并 qunyun plan apply"
