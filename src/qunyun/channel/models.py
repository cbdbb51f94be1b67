"""Distributors, terminal stores, consumers and tenant-defined tags."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from qunyun.core.clock import utcnow
from qunyun.core.db import Base, UTCDateTime
from qunyun.core.types import ExternalId, enum_column


class StoreType(StrEnum):
    """Kind of terminal store."""

    CONVENIENCE = "convenience"
    SUPERMARKET = "supermarket"
    RESTAURANT = "restaurant"
    TOBACCO_LIQUOR = "tobacco_liquor"
    MOTHER_BABY = "mother_baby"
    WHOLESALE = "wholesale"
    OTHER = "other"


STORE_TYPE_LABELS = {
    StoreType.CONVENIENCE: "便利店",
    StoreType.SUPERMARKET: "超市",
    StoreType.RESTAURANT: "餐饮",
    StoreType.TOBACCO_LIQUOR: "烟酒店",
    StoreType.MOTHER_BABY: "母婴店",
    StoreType.WHOLESALE: "批发部",
    StoreType.OTHER: "其他",
}


class Growth(StrEnum):
    """Growth attribute of a store (成长性)."""

    POTENTIAL = "potential"
    STABLE = "stable"
    DECLINING = "declining"


GROWTH_LABELS = {Growth.POTENTIAL: "潜力", Growth.STABLE: "稳定", Growth.DECLINING: "下滑"}


class StoreStatus(StrEnum):
    """Whether a store still trades."""

    ACTIVE = "active"
    CLOSED = "closed"


class ScaleTier(StrEnum):
    """Scale of a store by annual purchase, A the largest."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class ConsumerRole(StrEnum):
    """Why a consumer matters to the community."""

    SEED = "seed"
    KOL = "kol"
    FAN = "fan"
    ORDINARY = "ordinary"


CONSUMER_ROLE_LABELS = {
    ConsumerRole.SEED: "种子用户",
    ConsumerRole.KOL: "KOL",
    ConsumerRole.FAN: "粉丝",
    ConsumerRole.ORDINARY: "普通",
}


class ContactKind(StrEnum):
    """Kinds of people and businesses that can be tagged or be group members."""

    STORE = "store"
    DISTRIBUTOR = "distributor"
    CONSUMER = "consumer"
    STAFF = "staff"


def _tenant_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)


class Distributor(Base):
    """A distributor (经销商) of tier 1 (一级), 2, 3 …; lower tiers buy from ``parent_id``."""

    __tablename__ = "distributors"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "parent_id"],
            ["distributors.tenant_id", "distributors.distributor_id"],
            deferrable=True,
            initially="DEFERRED",
        ),
        CheckConstraint("tier >= 1", name="tier_positive"),
        Index("ix_distributors_parent", "tenant_id", "parent_id"),
    )

    tenant_id: Mapped[int] = _tenant_fk()
    distributor_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int] = mapped_column(SmallInteger)
    parent_id: Mapped[str | None] = mapped_column(ExternalId())
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    boss_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Store(Base):
    """A terminal store (终端店) in one rep's territory."""

    __tablename__ = "stores"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "rep_id"], ["staff.tenant_id", "staff.staff_id"]),
        ForeignKeyConstraint(
            ["tenant_id", "distributor_id"],
            ["distributors.tenant_id", "distributors.distributor_id"],
        ),
        CheckConstraint("closeness BETWEEN 1 AND 5", name="closeness_range"),
        CheckConstraint("annual_purchase_fen >= 0", name="purchase_not_negative"),
        Index("ix_stores_rep", "tenant_id", "rep_id"),
        Index("ix_stores_region", "tenant_id", "region_code"),
        Index("ix_stores_distributor", "tenant_id", "distributor_id"),
        Index("ix_stores_changes", "tenant_id", "updated_at"),  # the channel watermark (0010)
        # the plan's read of every active store, answered from the index alone (0009)
        Index(
            "ix_stores_plan_facts",
            "tenant_id",
            "status",
            "store_id",
            "rep_id",
            "store_type",
            "scale_tier",
            "closeness",
            "growth",
            "region_code",
            "annual_purchase_fen",
        ),
    )

    tenant_id: Mapped[int] = _tenant_fk()
    store_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    address: Mapped[str | None] = mapped_column(String(500))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    store_type: Mapped[StoreType] = mapped_column(enum_column(StoreType, "store_type"))
    annual_purchase_fen: Mapped[int | None] = mapped_column(BigInteger)
    scale_tier: Mapped[ScaleTier | None] = mapped_column(enum_column(ScaleTier, "scale_tier"))
    closeness: Mapped[int] = mapped_column(SmallInteger, default=3)
    growth: Mapped[Growth] = mapped_column(enum_column(Growth, "growth"), default=Growth.STABLE)
    rep_id: Mapped[str] = mapped_column(ExternalId())
    distributor_id: Mapped[str | None] = mapped_column(ExternalId())
    phone: Mapped[str | None] = mapped_column(String(20))
    wechat_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[StoreStatus] = mapped_column(
        enum_column(StoreStatus, "store_status"), default=StoreStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Consumer(Base):
    """A consumer the brand reaches directly: seed user, KOL, fan or ordinary member."""

    __tablename__ = "consumers"
    __table_args__ = (
        Index("ix_consumers_region", "tenant_id", "region_code"),
        Index("ix_consumers_changes", "tenant_id", "updated_at"),  # the channel watermark (0010)
    )

    tenant_id: Mapped[int] = _tenant_fk()
    consumer_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    role: Mapped[ConsumerRole] = mapped_column(enum_column(ConsumerRole, "consumer_role"))
    kol_kind: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Tag(Base):
    """A tenant-defined label (e.g. ``高潜力``, ``社区团长``)."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ContactTag(Base):
    """A tag on one contact (store, distributor, consumer or staff member)."""

    __tablename__ = "contact_tags"
    __table_args__ = (Index("ix_contact_tags_contact", "tenant_id", "contact_kind", "contact_id"),)

    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    contact_kind: Mapped[ContactKind] = mapped_column(
        enum_column(ContactKind, "contact_kind"), primary_key=True
    )
    contact_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImportRun(Base):
    """One committed import of a file: what it held and what it changed."""

    __tablename__ = "import_runs"
    __table_args__ = (Index("ix_import_runs_tenant", "tenant_id", "finished_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
