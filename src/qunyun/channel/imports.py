"""Import staff, distributors, stores and consumers from CSV / XLSX, all or nothing.

One pipeline serves the four kinds: read and validate every row (field by field, then across
rows and against the database), then — only when nothing is wrong, or ``skip_invalid`` is
given — upsert the good rows by id in the caller's transaction. Re-importing the same file
changes nothing; a changed row updates just the columns the file has.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Table as SqlTable
from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.orm import Session

from qunyun.channel import fields
from qunyun.channel.models import (
    CONSUMER_ROLE_LABELS,
    GROWTH_LABELS,
    STORE_TYPE_LABELS,
    Consumer,
    ConsumerRole,
    ContactKind,
    ContactTag,
    Distributor,
    Growth,
    ImportRun,
    ScaleTier,
    Store,
    StoreStatus,
    StoreType,
    Tag,
)
from qunyun.channel.queries import AwaitingHandover, awaiting_handover, stores_of_reps
from qunyun.core.bulk import BulkWriter, paused_gc
from qunyun.core.clock import local_date, utcnow
from qunyun.core.db import in_chunks, refresh_statistics
from qunyun.core.errors import InvalidInput, QunyunError
from qunyun.core.tabular import Column, Table, open_table, write_csv
from qunyun.core.types import ID_LENGTH
from qunyun.groups.figures import Mark, coverage_marks, refresh_coverage, refresh_store_coverage
from qunyun.org import regions
from qunyun.org.actions import bump_figures_version
from qunyun.org.models import STAFF_ROLE_LABELS, Staff, StaffRole, Tenant

Progress = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``; phases are ``read`` (bytes) and ``write`` (rows)."""

SCREEN_ERRORS = 50
"""How many errors an import shows on screen; the rejects CSV holds them all."""

SCALE_THRESHOLDS_YUAN = ((ScaleTier.A, 300_000), (ScaleTier.B, 100_000), (ScaleTier.C, 30_000))
"""Annual purchase (yuan) from which a store is tier A, B, C; below the last it is D."""


def scale_tier_for(annual_purchase_fen: int) -> ScaleTier:
    """Return the scale tier an annual purchase earns (see ``SCALE_THRESHOLDS_YUAN``)."""
    for tier, threshold in SCALE_THRESHOLDS_YUAN:
        if annual_purchase_fen >= threshold * 100:
            return tier
    return ScaleTier.D


@dataclass(frozen=True)
class RowError:
    """One problem in one row: where it is, what was there and why it is wrong."""

    row: int
    column: str
    value: str
    reason: str

    def describe(self) -> str:
        """Return ``第 12 行 · rep_id(业务员编号) = 'R9'：业务员不存在``."""
        shown = self.value if len(self.value) <= 40 else self.value[:40] + "…"
        value = f" = {shown!r}" if self.value else ""
        return f"第 {self.row} 行 · {self.column}{value}：{self.reason}"


@dataclass
class ImportReport:
    """What an import read, changed and rejected."""

    entity: str
    file: Path
    encoding: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_headers: list[str] = field(default_factory=list)
    rejects_path: Path | None = None
    committed: bool = False
    awaiting_handover: list[AwaitingHandover] = field(default_factory=list)
    """After a staff or store import: who left and still has stores or staff in post."""


class ImportRejected(QunyunError):
    """The file has bad rows and nothing was written; ``report`` lists them."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(
            f"{report.file.name}：{report.rejected_rows} 行有错误，未写入任何数据"
            f"（共 {report.rows} 行）"
        )
        self.report = report


@dataclass(frozen=True)
class Field:
    """A column of an import file and how its cells parse."""

    column: Column
    parse: Callable[[str], Any] = fields.text
    blank_ok: bool = False
    """A required column whose cells may still be empty (a district where the city has none)."""
    repeats: bool = False
    """Cells repeat across rows (a type, a district, a rep id): parse each distinct cell once."""


def _field(
    name: str,
    label: str,
    *aliases: str,
    required: bool = False,
    parse: Callable[[str], Any] = fields.text,
    max_length: int = 200,
    blank_ok: bool = False,
    repeats: bool = False,
) -> Field:
    column = Column(name, (label, *aliases), required, max_length, label)
    return Field(column, parse, blank_ok, repeats)


def _id_field(
    name: str, label: str, *aliases: str, required: bool = False, repeats: bool = False
) -> Field:
    return _field(
        name,
        label,
        *aliases,
        required=required,
        parse=fields.identifier,
        max_length=ID_LENGTH,
        repeats=repeats,
    )


class _Failed:
    """A cached parse failure: the reason a cell is wrong."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _memoized(parse: Callable[[str], Any], limit: int = 200_000) -> Callable[[str], Any]:
    """Return ``parse`` remembering each distinct cell's result (and failure)."""
    cache: dict[str, Any] = {}

    def run(cell: str) -> Any:
        result = cache.get(cell, cache)
        if result is cache:
            try:
                result = parse(cell)
            except ValueError as error:
                result = _Failed(str(error))
            if len(cache) < limit:
                cache[cell] = result
        if result.__class__ is _Failed:
            raise ValueError(result.reason)
        return result

    return run


PHONE = _field("phone", "电话", "手机", "手机号", "联系电话", parse=fields.phone, max_length=40)
TAGS = _field("tags", "标签", parse=fields.tag_list, max_length=1000)


class Context:
    """What an entity's validation needs from the database, loaded once per import."""

    def __init__(self, session: Session, tenant: Tenant) -> None:
        self.session = session
        self.tenant = tenant


class Entity:
    """One kind of importable row; subclasses declare fields and build records."""

    name: ClassVar[str]
    label: ClassVar[str]
    model: ClassVar[type[Any]]
    key: ClassVar[str]
    contact_kind: ClassVar[ContactKind]
    fields: ClassVar[tuple[Field, ...]]
    defaults: ClassVar[dict[str, Any]] = {}
    whole_file_checks: ClassVar[bool] = False

    @property
    def table(self) -> SqlTable:
        """Return the SQL table rows land in."""
        return self.model.__table__  # type: ignore[no-any-return]

    def context(self, session: Session, tenant: Tenant) -> Context:
        """Load what validation needs from the database."""
        return Context(session, tenant)

    def build(
        self, values: dict[str, Any], report: Callable[[str, str], None], ctx: Any
    ) -> dict[str, Any]:
        """Return the table values of one row; call ``report(column, reason)`` for problems."""
        raise NotImplementedError

    def check_file(
        self,
        records: dict[str, dict[str, Any]],
        report: Callable[[str, str, str], None],
        ctx: Any,
        rejected: set[str],
    ) -> None:
        """Check rows against each other; ``report(key, column, reason)`` marks a row bad.

        ``records`` holds the rows still accepted; ``rejected`` the ids of rows of this file
        already refused (they will not be written, so nothing may lean on them).
        """


# --- staff -------------------------------------------------------------------------------

_STAFF_ROLES = fields.choice(
    StaffRole,
    STAFF_ROLE_LABELS,
    {
        "销售总监": StaffRole.DIRECTOR,
        "渠道总监": StaffRole.DIRECTOR,
        "区域经理": StaffRole.MANAGER,
        "大区经理": StaffRole.MANAGER,
        "城市经理": StaffRole.MANAGER,
        "销售主管": StaffRole.SUPERVISOR,
        "业务代表": StaffRole.REP,
        "销售代表": StaffRole.REP,
        "群管": StaffRole.GROUP_ADMIN,
        "admin": StaffRole.GROUP_ADMIN,
    },
)


class StaffContext(Context):
    """Existing staff and how many stores each rep serves."""

    def __init__(self, session: Session, tenant: Tenant, zone: str) -> None:
        super().__init__(session, tenant)
        self.left_at = fields.local_moment(zone)
        self.existing: dict[str, tuple[StaffRole, str | None, datetime | None]] = {
            staff_id: (role, manager_id, left_at)
            for staff_id, role, manager_id, left_at in session.execute(
                select(Staff.staff_id, Staff.role, Staff.manager_id, Staff.left_at)
                .where(Staff.tenant_id == tenant.id)
                .order_by(Staff.staff_id)
            )
        }
        self.store_counts: dict[str, int] = dict(
            session.execute(
                select(Store.rep_id, func.count())
                .where(Store.tenant_id == tenant.id)
                .group_by(Store.rep_id)
            ).all()
        )


class StaffEntity(Entity):
    """Staff of the channel organisation (员工)."""

    name = "staff"
    label = "员工"
    model = Staff
    key = "staff_id"
    contact_kind = ContactKind.STAFF
    whole_file_checks = True
    fields = (
        _id_field("staff_id", "员工编号", "工号", "员工id", required=True),
        _field("name", "姓名", "员工姓名", required=True, max_length=100),
        _field("role", "角色", "职位", "岗位", required=True, parse=_STAFF_ROLES),
        _id_field("manager_id", "上级编号", "上级工号", "上级"),
        _field("region", "区域", "负责区域", parse=regions.resolve_path),
        PHONE,
        _field("left_at", "离职日期", max_length=40),
        TAGS,
    )

    def context(self, session: Session, tenant: Tenant) -> StaffContext:
        """Load existing staff and store counts per rep."""
        return StaffContext(session, tenant, tenant.timezone)

    def build(
        self, values: dict[str, Any], report: Callable[[str, str], None], ctx: Any
    ) -> dict[str, Any]:
        """Return the staff row; a manager must differ from the person."""
        record: dict[str, Any] = {
            name: values[name] for name in ("name", "role", "manager_id", "phone") if name in values
        }
        if "region" in values:
            region = values["region"]
            record["region_code"] = region.code if region is not None else None
        if "left_at" in values:
            raw = values["left_at"]
            try:
                record["left_at"] = ctx.left_at(raw) if raw else None
            except ValueError as error:
                report("left_at", str(error))
        if values.get("manager_id") is not None and values["manager_id"] == values.get("staff_id"):
            report("manager_id", "上级不能是本人")
        return record

    def check_file(
        self,
        records: dict[str, dict[str, Any]],
        report: Callable[[str, str, str], None],
        ctx: Any,
        rejected: set[str],
    ) -> None:
        """Check that managers exist, form no cycle, and reps with stores stay reps.

        A person in post may keep a manager who left (the handover moves his reports), but no
        row may give him one: a new person, or another manager than the stored one.
        """
        managers: dict[str, str | None] = {key: value[1] for key, value in ctx.existing.items()}
        left = {key: value[2] for key, value in ctx.existing.items()}
        for key, record in records.items():
            if "manager_id" in record:
                managers[key] = record["manager_id"]
            elif key not in managers:
                managers[key] = None
            if "left_at" in record:
                left[key] = record["left_at"]
        for key, record in records.items():
            manager = record.get("manager_id")
            manager_left = left.get(manager) if manager is not None else None
            if manager is not None and manager not in managers:
                report(key, "manager_id", _missing("上级", manager, rejected))
            elif (
                manager_left is not None
                and left.get(key) is None
                and ctx.existing.get(key, (None, None, None))[1] != manager
            ):
                day = f"{local_date(manager_left, ctx.tenant.timezone):%Y-%m-%d}"
                report(key, "manager_id", _departed("上级", str(manager), day, "下属"))
            role = record.get("role")
            stores = ctx.store_counts.get(key, 0)
            if role is not None and role != StaffRole.REP and stores:
                report(key, "role", f"仍有 {stores} 家门店由其服务，角色不能改为非业务员")
        for cycle in find_cycles(managers):
            path = " → ".join([*cycle, cycle[0]])
            for key in cycle:
                if key in records:
                    report(key, "manager_id", f"上级关系形成循环：{path}")


# --- distributors ------------------------------------------------------------------------


class DistributorContext(Context):
    """Existing distributors' tiers and parents."""

    def __init__(self, session: Session, tenant: Tenant) -> None:
        super().__init__(session, tenant)
        self.existing: dict[str, tuple[int, str | None]] = {
            key: (tier, parent)
            for key, tier, parent in session.execute(
                select(Distributor.distributor_id, Distributor.tier, Distributor.parent_id)
                .where(Distributor.tenant_id == tenant.id)
                .order_by(Distributor.distributor_id)
            )
        }


class DistributorEntity(Entity):
    """Distributors of every tier (经销商)."""

    name = "distributors"
    label = "经销商"
    model = Distributor
    key = "distributor_id"
    contact_kind = ContactKind.DISTRIBUTOR
    whole_file_checks = True
    fields = (
        _id_field("distributor_id", "经销商编号", "经销商id", required=True),
        _field("name", "经销商名称", "名称", required=True),
        _field("tier", "级别", "经销商级别", required=True, parse=fields.tier),
        _id_field("parent_id", "上级经销商", "上级经销商编号"),
        _field("province", "省", "省份"),
        _field("city", "市", "城市"),
        _field("district", "区", "区县", "区/区县"),
        _field("boss_name", "老板", "老板姓名", "联系人", max_length=100),
        PHONE,
        TAGS,
    )

    def context(self, session: Session, tenant: Tenant) -> DistributorContext:
        """Load existing distributors."""
        return DistributorContext(session, tenant)

    def build(
        self, values: dict[str, Any], report: Callable[[str, str], None], ctx: Any
    ) -> dict[str, Any]:
        """Return the distributor row with its most specific region."""
        record: dict[str, Any] = {
            name: values[name]
            for name in ("name", "tier", "parent_id", "boss_name", "phone")
            if name in values
        }
        if {"province", "city", "district"} & values.keys():
            parts = [values.get(part) or "" for part in ("province", "city", "district")]
            record["region_code"] = _region(report, *parts, leaf=False)
        if values.get("parent_id") is not None and values["parent_id"] == values.get(
            "distributor_id"
        ):
            report("parent_id", "上级经销商不能是自己")
        return record

    def check_file(
        self,
        records: dict[str, dict[str, Any]],
        report: Callable[[str, str, str], None],
        ctx: Any,
        rejected: set[str],
    ) -> None:
        """Check parents exist, sit at a higher tier, and form no cycle."""
        tiers = {key: value[0] for key, value in ctx.existing.items()}
        parents = {key: value[1] for key, value in ctx.existing.items()}
        for key, record in records.items():
            if "tier" in record:
                tiers[key] = record["tier"]
            if "parent_id" in record:
                parents[key] = record["parent_id"]
            else:
                parents.setdefault(key, None)
        cyclic: set[str] = set()
        for cycle in find_cycles(parents):
            cyclic.update(cycle)
            path = " → ".join([*cycle, cycle[0]])
            for key in cycle:
                if key in records:
                    report(key, "parent_id", f"上级关系形成循环：{path}")
        for key, parent in parents.items():
            if parent is None or key in cyclic:
                continue
            if parent not in tiers:
                if key in records:
                    report(key, "parent_id", _missing("上级经销商", parent, rejected))
                continue
            if tiers[key] == 1:
                if key in records:
                    report(key, "parent_id", "一级经销商不应有上级经销商")
            elif tiers[parent] >= tiers[key]:
                reason = f"上级 {parent} 是{tiers[parent]}级，须高于本经销商（{tiers[key]}级）"
                if key in records:
                    report(key, "parent_id", reason)
                elif parent in records:
                    report(parent, "tier", f"下级经销商 {key}（{tiers[key]}级）的上级须高一级")


# --- stores ------------------------------------------------------------------------------

_STORE_TYPES = fields.choice(
    StoreType,
    STORE_TYPE_LABELS,
    {
        "小卖部": StoreType.CONVENIENCE,
        "夫妻店": StoreType.CONVENIENCE,
        "商超": StoreType.SUPERMARKET,
        "卖场": StoreType.SUPERMARKET,
        "饭店": StoreType.RESTAURANT,
        "餐馆": StoreType.RESTAURANT,
        "酒楼": StoreType.RESTAURANT,
        "烟酒行": StoreType.TOBACCO_LIQUOR,
        "母婴": StoreType.MOTHER_BABY,
        "批发": StoreType.WHOLESALE,
    },
)
_GROWTH = fields.choice(Growth, GROWTH_LABELS)
_STATUS = fields.choice(
    StoreStatus,
    {StoreStatus.ACTIVE: "营业", StoreStatus.CLOSED: "关闭"},
    {
        "正常": StoreStatus.ACTIVE,
        "闭店": StoreStatus.CLOSED,
        "停业": StoreStatus.CLOSED,
    },
)
_SCALE = fields.choice(ScaleTier, {tier: f"{tier.value}类" for tier in ScaleTier})


class StoreContext(Context):
    """The tenant's staff roles and distributor ids, to check references.

    ``departed_reps`` holds the reps who left (and the day they left, in the tenant's zone);
    ``kept_by_departed`` the stores that sit with them now, by store id: a row may keep such a
    store with its rep until the handover, but no row may give a store to one of them.
    """

    def __init__(self, session: Session, tenant: Tenant) -> None:
        super().__init__(session, tenant)
        self.staff: dict[str, StaffRole] = {}
        self.departed_reps: dict[str, str] = {}
        for staff_id, role, left_at in session.execute(
            select(Staff.staff_id, Staff.role, Staff.left_at).where(Staff.tenant_id == tenant.id)
        ):
            self.staff[staff_id] = role
            if left_at is not None and role is StaffRole.REP:
                self.departed_reps[staff_id] = f"{local_date(left_at, tenant.timezone):%Y-%m-%d}"
        self.kept_by_departed: dict[str, str] = stores_of_reps(
            session, tenant, sorted(self.departed_reps)
        )
        self.distributors: set[str] = set(
            session.scalars(
                select(Distributor.distributor_id).where(Distributor.tenant_id == tenant.id)
            )
        )


class StoreEntity(Entity):
    """Terminal stores (终端店)."""

    name = "stores"
    label = "门店"
    model = Store
    key = "store_id"
    contact_kind = ContactKind.STORE
    defaults: ClassVar[dict[str, Any]] = {
        "address": None,
        "lat": None,
        "lon": None,
        "annual_purchase_fen": None,
        "scale_tier": None,
        "closeness": 3,
        "growth": Growth.STABLE,
        "distributor_id": None,
        "phone": None,
        "wechat_id": None,
        "status": StoreStatus.ACTIVE,
    }
    fields = (
        _id_field("store_id", "门店编号", "门店id", "终端编号", required=True),
        _field("name", "门店名称", "店名", "名称", required=True),
        _field("province", "省", "省份", required=True, repeats=True),
        _field("city", "市", "城市", required=True, repeats=True),
        _field("district", "区/区县", "区", "区县", required=True, blank_ok=True, repeats=True),
        _field("address", "地址", "详细地址", max_length=500),
        _field("lat", "纬度", parse=fields.latitude, max_length=40),
        _field("lon", "经度", parse=fields.longitude, max_length=40),
        _field(
            "store_type",
            "门店类型",
            "类型",
            "业态",
            required=True,
            parse=_STORE_TYPES,
            repeats=True,
        ),
        _field(
            "annual_purchase_yuan",
            "年进货额",
            "年进货额(元)",
            parse=fields.yuan,
            max_length=40,
            repeats=True,
        ),
        _field("scale_tier", "规模等级", "规模", parse=_SCALE, max_length=10, repeats=True),
        _field(
            "closeness", "亲密度", parse=fields.integer_between(1, 5), max_length=10, repeats=True
        ),
        _field("growth", "成长性", parse=_GROWTH, max_length=20, repeats=True),
        _id_field("rep_id", "业务员编号", "业务员工号", required=True, repeats=True),
        _id_field("distributor_id", "经销商编号", "供货经销商", repeats=True),
        PHONE,
        _field("wechat_id", "微信号", "微信", parse=fields.identifier, max_length=64),
        _field("status", "状态", "营业状态", parse=_STATUS, max_length=20, repeats=True),
        TAGS,
    )
    _plain = (
        "name",
        "address",
        "lat",
        "lon",
        "store_type",
        "closeness",
        "growth",
        "distributor_id",
        "phone",
        "wechat_id",
        "status",
    )

    def context(self, session: Session, tenant: Tenant) -> StoreContext:
        """Load staff roles and distributor ids."""
        return StoreContext(session, tenant)

    def build(
        self, values: dict[str, Any], report: Callable[[str, str], None], ctx: Any
    ) -> dict[str, Any]:
        """Return the store row: region, fen, derived scale tier, checked references."""
        store_id = values["store_id"]
        record: dict[str, Any] = {name: values[name] for name in self._plain if name in values}
        if "closeness" in record and record["closeness"] is None:
            record["closeness"] = 3
        if "growth" in record and record["growth"] is None:
            record["growth"] = Growth.STABLE
        if "status" in record and record["status"] is None:
            record["status"] = StoreStatus.ACTIVE
        if values["province"] is not None and values["city"] is not None:  # else already flagged
            record["region_code"] = _region(
                report, values["province"], values["city"], values["district"] or "", leaf=True
            )
        if "annual_purchase_yuan" in values:
            record["annual_purchase_fen"] = values["annual_purchase_yuan"]
        if "scale_tier" in values or "annual_purchase_yuan" in values:
            tier = values.get("scale_tier")
            purchase = values.get("annual_purchase_yuan")
            record["scale_tier"] = (
                tier if tier is not None or purchase is None else scale_tier_for(purchase)
            )
        rep_id = values["rep_id"]
        if rep_id is not None:
            role = ctx.staff.get(rep_id)
            if role is None:
                report("rep_id", f"业务员 {rep_id} 不存在：请先导入员工")
            elif role is not StaffRole.REP:
                report("rep_id", f"{rep_id} 的角色是{STAFF_ROLE_LABELS[role]}，不是业务员")
            elif rep_id in ctx.departed_reps and ctx.kept_by_departed.get(store_id) != rep_id:
                # keeping a store with the rep who left is no change (the handover moves it);
                # giving him a store, new or another rep's, is
                report("rep_id", _departed("业务员", rep_id, ctx.departed_reps[rep_id], "门店"))
            record["rep_id"] = rep_id
        distributor = values.get("distributor_id")
        if distributor is not None and distributor not in ctx.distributors:
            report("distributor_id", f"经销商 {distributor} 不存在：请先导入经销商")
        return record


# --- consumers ---------------------------------------------------------------------------

_CONSUMER_ROLES = fields.choice(
    ConsumerRole,
    CONSUMER_ROLE_LABELS,
    {
        "种子": ConsumerRole.SEED,
        "达人": ConsumerRole.KOL,
        "普通用户": ConsumerRole.ORDINARY,
        "普通消费者": ConsumerRole.ORDINARY,
    },
)


class ConsumerEntity(Entity):
    """Consumers: seed users, KOLs, fans and ordinary members (消费者)."""

    name = "consumers"
    label = "消费者"
    model = Consumer
    key = "consumer_id"
    contact_kind = ContactKind.CONSUMER
    defaults: ClassVar[dict[str, Any]] = {"kol_kind": None, "source": None, "phone": None}
    fields = (
        _id_field("consumer_id", "消费者编号", "会员编号", "用户编号", required=True),
        _field("name", "姓名", "昵称", required=True, max_length=100),
        _field("province", "省", "省份"),
        _field("city", "城市", "市", required=True),
        _field("district", "区", "区县", "区/区县"),
        _field("role", "身份", "角色", "类型", required=True, parse=_CONSUMER_ROLES),
        _field("kol_kind", "KOL类型", "kol类别", max_length=40),
        _field("source", "来源", "渠道来源", max_length=100),
        PHONE,
        TAGS,
    )

    def build(
        self, values: dict[str, Any], report: Callable[[str, str], None], ctx: Any
    ) -> dict[str, Any]:
        """Return the consumer row with its city or district."""
        record: dict[str, Any] = {
            name: values[name]
            for name in ("name", "role", "kol_kind", "source", "phone")
            if name in values
        }
        parts = [values.get(part) or "" for part in ("province", "city", "district")]
        record["region_code"] = _region(report, *parts, leaf=False)
        return record


ENTITIES: dict[str, Entity] = {
    entity.name: entity
    for entity in (StaffEntity(), DistributorEntity(), StoreEntity(), ConsumerEntity())
}


# --- shared helpers ----------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _resolve(province: str, city: str, district: str, leaf: bool) -> tuple[str, str, str]:
    """Return (region code, '', '') or ('', failing column, reason); cached per combination."""
    try:
        return regions.resolve_cells(province, city, district, leaf=leaf).code, "", ""
    except regions.RegionError as error:
        return "", error.part, str(error)


def _region(
    report: Callable[[str, str], None], province: str, city: str, district: str, *, leaf: bool
) -> str | None:
    if not (province or city or district):
        return None
    code, column, reason = _resolve(province, city, district, leaf)
    if column:
        report(column, reason)
        return None
    return code


def _departed(what: str, key: str, day: str, instead: str) -> str:
    return f"{what} {key} 已离职（{day}），请改派在职{what}（已交接的{instead}填接手人）"


def _missing(what: str, key: str, rejected: set[str]) -> str:
    if key in rejected:
        return f"{what} {key} 在本文件中有错误，未能导入"
    return f"{what} {key} 不存在（既不在文件中，也不在系统中）"


def find_cycles(parents: dict[str, str | None]) -> list[list[str]]:
    """Return every cycle in a child → parent map (each cycle once, in walk order)."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []
    for start in parents:
        if start in state:
            continue
        path: list[str] = []
        position: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in state:
            state[node] = 1
            position[node] = len(path)
            path.append(node)
            node = parents.get(node)
        if node is not None and state.get(node) == 1 and node in position:
            cycles.append(path[position[node] :])
        for visited in path:
            state[visited] = 2
    return cycles


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the pipeline ------------------------------------------------------------------------


@paused_gc()
def do_import(
    session: Session,
    tenant: Tenant,
    entity_name: str,
    path: Path,
    *,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``path`` into ``tenant`` as ``entity_name`` rows in the session's transaction.

    Raise InvalidInput when the file cannot be read as a table, and ImportRejected (after
    writing the rejects CSV) when a row is bad and ``skip_invalid`` is False.
    """
    entity = ENTITIES.get(entity_name)
    if entity is None:
        raise InvalidInput(f"不能导入 {entity_name!r}：可导入 {', '.join(ENTITIES)}")
    table = open_table(path, [item.column for item in entity.fields])
    report = ImportReport(entity.name, path, table.encoding, ignored_headers=table.ignored_headers)
    ctx = entity.context(session, tenant)
    records, tag_sets, bad_rows = _read_rows(entity, table, ctx, report, progress)
    report.rejected_rows = len(bad_rows)
    report.errors.sort(key=lambda error: error.row)
    if bad_rows:
        if rejects_path is not None:
            _write_rejects(rejects_path, table.present, bad_rows, report.errors)
            report.rejects_path = rejects_path
        if not skip_invalid:
            raise ImportRejected(report)
    is_stores = entity.model is Store
    before: dict[str, Mark] | None = None

    def read_marks(changing: set[str]) -> None:
        nonlocal before
        if is_stores and len(changing) <= FEW_STORES:
            before = coverage_marks(session, tenant, changing)

    touched = _write(session, entity, tenant, records, tag_sets, report, progress, read_marks)
    if is_stores and touched:
        if len(touched) > BULK_ROWS:
            refresh_statistics(session, ["stores"])
        if before is None:
            refresh_coverage(session, tenant)
        else:
            refresh_store_coverage(session, tenant, before, touched)
    else:
        bump_figures_version(session, tenant)  # staff: the overview's leaders and reasons
    if entity.model is Store or entity.model is Staff:
        report.awaiting_handover = awaiting_handover(session, tenant)
    session.add(
        ImportRun(
            tenant_id=tenant.id,
            entity=entity.name,
            file_name=path.name,
            file_sha256=_sha256(path),
            rows=report.rows,
            inserted=report.inserted,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=report.rejected_rows,
            finished_at=utcnow(),
        )
    )
    session.flush()
    report.committed = True
    return report


def preview_import(session: Session, tenant: Tenant, entity_name: str, path: Path) -> ImportReport:
    """Return what ``do_import`` would do with ``path``: its counts, or its row errors.

    The import runs for real in the session's transaction, so the figures are exactly those of
    the import; the caller must roll the transaction back (``core.db.rolled_back``). Raise
    InvalidInput when the file cannot be read as a table.
    """
    try:
        report = do_import(session, tenant, entity_name, path)
    except ImportRejected as rejected:
        report = rejected.report
    report.committed = False
    return report


def _read_rows(
    entity: Entity,
    table: Table,
    ctx: Any,
    report: ImportReport,
    progress: Progress | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, ...]], dict[int, list[str]]]:
    """Parse and validate every row; return good records by key, their tags, and bad rows."""
    by_name = {item.column.name: item for item in entity.fields}
    present = [
        (
            column.name,
            column.title,
            column.required and not by_name[column.name].blank_ok,
            column.max_length,
            _memoized(by_name[column.name].parse)
            if by_name[column.name].repeats
            else by_name[column.name].parse,
        )
        for column in table.present
    ]
    key_name = entity.key
    records: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    tag_sets: dict[str, tuple[str, ...]] = {}
    cells_by_key: dict[str, tuple[int, list[str]]] = {}
    bad_rows: dict[int, list[str]] = {}
    errors = report.errors
    has_tags = any(column.name == "tags" for column in table.present)
    keep_cells = entity.whole_file_checks
    problems = _RowProblems(entity)
    next_tick = 0
    for row_number, cells in table.rows:
        report.rows += 1
        if progress is not None and report.rows >= next_tick:
            progress("read", table.position(), table.size_bytes)
            next_tick = report.rows + 5000
        values: dict[str, Any] = {}
        row_errors = problems.start(row_number, values)
        for (name, title, required, max_length, parse), raw in zip(present, cells, strict=True):
            cell = raw.strip()
            if not cell:
                if required:
                    row_errors.append(RowError(row_number, title, "", "必填"))
                values[name] = None
                continue
            if len(cell) > max_length:
                row_errors.append(
                    RowError(
                        row_number,
                        title,
                        cell[:40],
                        f"过长（{len(cell):,} 个字符，上限 {max_length}）",
                    )
                )
                values[name] = None
                continue
            try:
                values[name] = parse(cell)
            except ValueError as error:
                row_errors.append(RowError(row_number, title, cell, str(error)))
                values[name] = None

        key = values.get(key_name)
        if key is not None:
            if key in first_row:
                problems.flag(key_name, f"编号与第 {first_row[key]} 行重复")
                key = None
            else:
                first_row[key] = row_number
        record = entity.build(values, problems.flag, ctx)
        if row_errors or key is None:
            errors.extend(row_errors)
            bad_rows[row_number] = cells
            continue
        records[key] = record
        if has_tags:
            tag_sets[key] = values["tags"] or ()
        if keep_cells:
            cells_by_key[key] = (row_number, cells)
    if progress is not None:
        progress("read", table.size_bytes, table.size_bytes)

    def flag_key(key: str, column: str, reason: str) -> None:
        row_number, cells = cells_by_key[key]
        title = problems.titles.get(column, column)
        errors.append(RowError(row_number, title, _shown(records[key].get(column)), reason))
        bad_rows[row_number] = cells

    if entity.whole_file_checks:
        # Refusing a row may strand the rows that lean on it (a manager's reports), so the
        # checks run again on what is left until nothing more is refused.
        rejected = {key for key, row_number in first_row.items() if row_number in bad_rows}
        while True:
            entity.check_file(records, flag_key, ctx, rejected)
            newly = [key for key in records if cells_by_key[key][0] in bad_rows]
            if not newly:
                break
            for key in newly:
                records.pop(key)
                tag_sets.pop(key, None)
                rejected.add(key)
    return records, tag_sets, bad_rows


class _RowProblems:
    """Collects the problems of the row being read; ``flag`` is what ``Entity.build`` calls."""

    def __init__(self, entity: Entity) -> None:
        self.titles = {item.column.name: item.column.title for item in entity.fields}
        self.row = 0
        self.values: dict[str, Any] = {}
        self.errors: list[RowError] = []

    def start(self, row: int, values: dict[str, Any]) -> list[RowError]:
        """Begin a row; return its (empty) list of errors."""
        self.row, self.values, self.errors = row, values, []
        return self.errors

    def flag(self, column: str, reason: str) -> None:
        """Record that ``column`` of the current row is wrong for ``reason``."""
        title = self.titles.get(column, column)
        self.errors.append(RowError(self.row, title, _shown(self.values.get(column)), reason))


def _shown(value: Any) -> str:
    if value is None:
        return ""
    return value.value if hasattr(value, "value") else str(value)


def _write_rejects(
    path: Path, present: list[Column], bad_rows: dict[int, list[str]], errors: list[RowError]
) -> None:
    reasons: dict[int, list[str]] = defaultdict(list)
    for error in errors:
        reasons[error.row].append(f"{error.column}：{error.reason}")
    header = ["row", *(column.name for column in present), "errors"]
    write_csv(
        path,
        header,
        ([row, *bad_rows[row], "；".join(reasons[row])] for row in sorted(bad_rows)),
        for_excel=True,
    )


WRITE_BATCH = 20_000
FEW_STORES = 50_000
"""Up to this many stores inserted or changed, the coverage moves by their difference; more:
it is recomputed for the whole tenant."""
BULK_ROWS = 1_000
"""From this many stores written, the planner statistics are refreshed before the figures."""


def _write(
    session: Session,
    entity: Entity,
    tenant: Tenant,
    records: dict[str, dict[str, Any]],
    tag_sets: dict[str, tuple[str, ...]],
    report: ImportReport,
    progress: Progress | None,
    before_write: Callable[[set[str]], None] | None = None,
) -> set[str]:
    """Insert new rows, update changed ones (only the columns the file has), set tags.

    Return the keys of the rows inserted or changed; ``before_write`` gets them before any
    row is written (to read what the write will change).
    """
    if not records:
        return set()
    table = entity.table
    keys = list(records)
    columns = list(next(iter(records.values())))
    writer = BulkWriter(session.connection(), table)
    existing = writer.existing(tenant.id, entity.key, columns, keys)
    now = utcnow()
    created, updated = writer.bound("created_at", now), writer.bound("updated_at", now)
    defaults = {**entity.defaults, **dict.fromkeys(columns)}
    insert_columns = [*defaults, "tenant_id", entity.key, "created_at", "updated_at"]
    new_rows: list[list[Any]] = []
    changed_rows: list[list[Any]] = []
    new_keys: set[str] = set()
    changed_keys: set[str] = set()
    for key, record in records.items():
        old = existing.get(key)
        values = [record[name] for name in columns]
        if old is None:
            new_keys.add(key)
            row = {**defaults, **record}
            new_rows.append([*row.values(), tenant.id, key, created, updated])
        elif tuple(values) != old:
            changed_keys.add(key)
            changed_rows.append([*values, updated, tenant.id, key])
    report.inserted, report.updated = len(new_rows), len(changed_rows)
    if before_write is not None:
        before_write(new_keys | changed_keys)
    total = len(new_rows) + len(changed_rows)
    done = 0
    if progress is not None:
        progress("write", 0, total)
    for chunk in in_chunks(new_rows, WRITE_BATCH):
        writer.insert(insert_columns, chunk, bound=("created_at", "updated_at"))
        done += len(chunk)
        if progress is not None:
            progress("write", done, total)
    for chunk in in_chunks(changed_rows, WRITE_BATCH):
        writer.update(
            [*columns, "updated_at"], ["tenant_id", entity.key], chunk, bound=("updated_at",)
        )
        done += len(chunk)
        if progress is not None:
            progress("write", done, total)
    if tag_sets:
        report.updated += _write_tags(
            session, tenant, entity.contact_kind, tag_sets, changed_keys, new_keys
        )
    report.unchanged = len(records) - report.inserted - report.updated
    return new_keys | changed_keys


def _write_tags(
    session: Session,
    tenant: Tenant,
    kind: ContactKind,
    tag_sets: dict[str, tuple[str, ...]],
    updated_keys: set[str],
    new_keys: set[str],
) -> int:
    """Make each contact's tags exactly the file's; return contacts changed by tags alone."""
    names = sorted({name for names in tag_sets.values() for name in names})
    tag_ids = dict(
        session.execute(select(Tag.name, Tag.id).where(Tag.tenant_id == tenant.id)).all()
    )
    missing = [name for name in names if name not in tag_ids]
    if missing:
        now = utcnow()
        session.execute(
            insert(Tag),
            [{"tenant_id": tenant.id, "name": name, "created_at": now} for name in missing],
        )
        tag_ids = dict(
            session.execute(select(Tag.name, Tag.id).where(Tag.tenant_id == tenant.id)).all()
        )
    current: dict[str, set[int]] = defaultdict(set)
    query = select(ContactTag.contact_id, ContactTag.tag_id).where(
        ContactTag.tenant_id == tenant.id, ContactTag.contact_kind == kind
    )
    for contact_id, tag_id in session.execute(query):
        current[contact_id].add(tag_id)
    writer = BulkWriter(session.connection(), ContactTag.__table__)  # type: ignore[arg-type]
    created = writer.bound("created_at", utcnow())
    to_add: list[list[Any]] = []
    to_remove: list[tuple[int, str]] = []
    touched: set[str] = set()
    for key, wanted_names in tag_sets.items():
        wanted = {tag_ids[name] for name in wanted_names}
        have = current.get(key, set())
        if wanted == have:
            continue
        touched.add(key)
        to_add.extend([tag_id, kind, key, tenant.id, created] for tag_id in wanted - have)
        to_remove.extend((tag_id, key) for tag_id in have - wanted)
    for chunk in in_chunks(to_add, WRITE_BATCH):
        columns = ["tag_id", "contact_kind", "contact_id", "tenant_id", "created_at"]
        writer.insert(columns, chunk, bound=("created_at",))
    for pairs in in_chunks(to_remove, 500):
        session.execute(
            delete(ContactTag).where(
                ContactTag.tenant_id == tenant.id,
                ContactTag.contact_kind == kind,
                tuple_(ContactTag.tag_id, ContactTag.contact_id).in_(pairs),
            )
        )
    # A contact counts as updated once, whether its fields, its tags or both changed.
    return len(touched - updated_keys - new_keys)


__all__ = [
    "ENTITIES",
    "ImportRejected",
    "ImportReport",
    "RowError",
    "do_import",
    "find_cycles",
    "preview_import",
    "scale_tier_for",
]
