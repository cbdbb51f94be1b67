"""Tenants (brands), staff, the administrative-division table, accounts and integration tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from qunyun.core.clock import DEFAULT_ZONE, utcnow
from qunyun.core.db import Base, UTCDateTime
from qunyun.core.types import ExternalId, enum_column


class Tenant(Base):
    """A brand: every other row belongs to exactly one tenant."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_ZONE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    figures_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Raised by every write that changes the pre-aggregated figures (cached per version)."""
    company_account_id: Mapped[str] = mapped_column(String(64), server_default="")
    """The company account that owns every group of the brand (群主), never a person; the
    tenant's slug unless given (``qunyun tenant create --company-account``)."""


class RegionRow(Base):
    """An administrative division (adcode), loaded from the catalogue by the migrations."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(6), ForeignKey("regions.code"))
    province_code: Mapped[str] = mapped_column(String(6))


class StaffRole(StrEnum):
    """What a staff member does in the channel organisation."""

    DIRECTOR = "director"
    MANAGER = "manager"
    SUPERVISOR = "supervisor"
    REP = "rep"
    GROUP_ADMIN = "group_admin"


STAFF_ROLE_LABELS = {
    StaffRole.DIRECTOR: "总监",
    StaffRole.MANAGER: "经理",
    StaffRole.SUPERVISOR: "主管",
    StaffRole.REP: "业务员",
    StaffRole.GROUP_ADMIN: "群管理员",
}


class Staff(Base):
    """A person of the brand's channel organisation; ``manager_id`` points one level up."""

    __tablename__ = "staff"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "manager_id"],
            ["staff.tenant_id", "staff.staff_id"],
            deferrable=True,
            initially="DEFERRED",
        ),
        Index("ix_staff_manager", "tenant_id", "manager_id"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[StaffRole] = mapped_column(enum_column(StaffRole, "staff_role"))
    manager_id: Mapped[str | None] = mapped_column(ExternalId())
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    phone: Mapped[str | None] = mapped_column(String(20))
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def is_active(self) -> bool:
        """Return whether the person still works for the brand."""
        return self.left_at is None


class AccountRole(StrEnum):
    """What a person who logs in to the console or the API may see and do."""

    HQ_ADMIN = "hq_admin"
    MANAGER = "manager"
    SUPERVISOR = "supervisor"
    REP = "rep"
    GROUP_ADMIN = "group_admin"
    DISTRIBUTOR = "distributor"
    ANALYST = "analyst"


ACCOUNT_ROLE_LABELS = {
    AccountRole.HQ_ADMIN: "总部管理员",
    AccountRole.MANAGER: "经理",
    AccountRole.SUPERVISOR: "主管",
    AccountRole.REP: "业务员",
    AccountRole.GROUP_ADMIN: "群管理员",
    AccountRole.DISTRIBUTOR: "经销商",
    AccountRole.ANALYST: "分析员（只读）",
}


class Account(Base):
    """A login of one person of a tenant; ``staff_id`` / ``distributor_id`` tie it to the channel.

    Only the argon2 hash of the password is kept. ``failed_logins`` counts failures since the
    last success; reaching the limit sets ``locked_until``.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username"),
        ForeignKeyConstraint(["tenant_id", "staff_id"], ["staff.tenant_id", "staff.staff_id"]),
        ForeignKeyConstraint(
            ["tenant_id", "distributor_id"],
            ["distributors.tenant_id", "distributors.distributor_id"],
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[AccountRole] = mapped_column(enum_column(AccountRole, "account_role"))
    staff_id: Mapped[str | None] = mapped_column(ExternalId())
    distributor_id: Mapped[str | None] = mapped_column(ExternalId())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IntegrationToken(Base):
    """A machine's bearer token; only its SHA-256 is kept, the token itself is shown once."""

    __tablename__ = "integration_tokens"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(200))
    """Space-separated scopes, e.g. ``events:write``."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
