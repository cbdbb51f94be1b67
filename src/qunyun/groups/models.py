"""Company-owned chat groups and their membership history."""

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
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.db import Base, UTCDateTime
from qunyun.core.types import ExternalId, enum_column


class Matrix(StrEnum):
    """The four matrices of the B2B2B2C community design."""

    DEALER = "dealer"
    STORE = "store"
    CONSUMER = "consumer"
    VIP = "vip"


MATRIX_LABELS = {
    Matrix.DEALER: "经销商群",
    Matrix.STORE: "终端店群",
    Matrix.CONSUMER: "消费者群",
    Matrix.VIP: "VIP群",
}


class MemberRole(StrEnum):
    """The seat a member holds in a group."""

    CUSTOMER = "customer"
    REP = "rep"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    DIRECTOR = "director"
    ADMIN = "admin"
    KOL = "kol"


class Group(Base):
    """A chat group owned by the company (the tenant), never by a person.

    ``owner_id`` is the account that owns the group on the chat platform: the tenant's
    company account for every group Qunyun creates; the audit reports a staff member there.
    ``territory_rep_id`` is the serving rep whose territory a store group belongs to.
    ``member_count`` is the number of open stays, kept by the writes that open and close them
    (``groups.figures.refresh_member_counts``), so that lists do not count stays per request.
    """

    __tablename__ = "groups"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "territory_rep_id"], ["staff.tenant_id", "staff.staff_id"]
        ),
        Index("ix_groups_matrix", "tenant_id", "matrix"),
        Index("ix_groups_territory", "tenant_id", "territory_rep_id", "group_id"),
        Index("ix_groups_region", "tenant_id", "region_code", "group_id"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    matrix: Mapped[Matrix] = mapped_column(enum_column(Matrix, "matrix"))
    territory_rep_id: Mapped[str | None] = mapped_column(ExternalId())
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    external_chat_id: Mapped[str | None] = mapped_column(String(128))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    plan_key: Mapped[str | None] = mapped_column(String(100))
    """What a planned dealer / consumer / VIP group is for (``dealer:t1:440000``)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    member_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Membership(Base):
    """One stay of a member in a group; leaving sets ``left_at``, a rejoin is a new row."""

    __tablename__ = "memberships"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["groups.tenant_id", "groups.group_id"],
            ondelete="CASCADE",
        ),
        Index("ix_memberships_member", "tenant_id", "member_kind", "member_id"),
        Index("ix_memberships_group", "tenant_id", "group_id"),
        Index(
            "uq_memberships_open",
            "tenant_id",
            "group_id",
            "member_kind",
            "member_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
        # the plan's read of every open seat, answered from the index alone (0009): SQLite
        # covers with a partial index only when it holds its WHERE column too
        Index(
            "ix_memberships_open_seats",
            "tenant_id",
            "group_id",
            "member_kind",
            "member_id",
            "role",
            "left_at",
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    group_id: Mapped[str] = mapped_column(ExternalId())
    member_kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind, "member_kind"))
    member_id: Mapped[str] = mapped_column(ExternalId())
    role: Mapped[MemberRole] = mapped_column(enum_column(MemberRole, "member_role"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RevisionStatus(StrEnum):
    """Where a plan revision stands."""

    PENDING = "pending"
    APPLIED = "applied"
    SUPERSEDED = "superseded"


class ChangeKind(StrEnum):
    """One step of a plan: the diff between the groups as they are and as planned."""

    CREATE_GROUP = "create_group"
    ARCHIVE_GROUP = "archive_group"
    JOIN = "join"
    LEAVE = "leave"


class PlanRevision(Base):
    """A computed plan: pending until applied (or replaced by a newer plan)."""

    __tablename__ = "plan_revisions"
    __table_args__ = (Index("ix_plan_revisions_tenant", "tenant_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[RevisionStatus] = mapped_column(enum_column(RevisionStatus, "revision_status"))
    channel_fingerprint: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    computed_by: Mapped[str] = mapped_column(String(100))
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    applied_by: Mapped[str | None] = mapped_column(String(100))


class PlanChange(Base):
    """One change of a revision to one group; applied revisions keep theirs as the audit trail.

    Joins and leaves are kept per (group, member kind, role) with the ids listed, so that the
    first plan of a national brand writes thousands of rows, not millions.
    """

    __tablename__ = "plan_changes"
    __table_args__ = (
        Index("ix_plan_changes_revision", "revision_id"),
        Index("ix_plan_changes_group", "tenant_id", "group_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("plan_revisions.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[ChangeKind] = mapped_column(enum_column(ChangeKind, "change_kind"))
    group_id: Mapped[str] = mapped_column(ExternalId())
    group_name: Mapped[str | None] = mapped_column(String(200))
    matrix: Mapped[Matrix] = mapped_column(enum_column(Matrix, "change_matrix"))
    territory_rep_id: Mapped[str | None] = mapped_column(ExternalId())
    region_code: Mapped[str | None] = mapped_column(String(6))
    plan_key: Mapped[str | None] = mapped_column(String(100))
    member_kind: Mapped[ContactKind | None] = mapped_column(
        enum_column(ContactKind, "change_member_kind")
    )
    member_ids: Mapped[str | None] = mapped_column(Text)
    """The members this change joins or removes, one id a line (one row per group and role)."""
    member_role: Mapped[MemberRole | None] = mapped_column(
        enum_column(MemberRole, "change_member_role")
    )


class CoverageCell(Base):
    """Active stores of one rep in one division, and how many of them sit in a group.

    Pre-aggregated coverage (全覆盖): the writes that change stores or store stays recompute
    the cells of the reps they touch (``groups.figures.refresh_coverage``) in their own
    transaction, so the overview reads a few rows per rep in scope instead of every store.
    ``in_store_group`` counts stores with an open customer stay in an open store group;
    ``in_any_group`` also those only in a VIP group (what covers them when
    QUNYUN_VIP_IN_BASE_GROUP is false).
    """

    __tablename__ = "coverage_cells"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    rep_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    active: Mapped[int] = mapped_column(Integer)
    in_store_group: Mapped[int] = mapped_column(Integer)
    in_any_group: Mapped[int] = mapped_column(Integer)


class CoverageGap(Base):
    """An active store outside every open store group (kept with the coverage cells).

    No foreign key to ``tenants`` (migration 0009): before a brand's first plan every active
    store is a gap, and the first ``plan apply`` clears them all. SQLite erases a table in
    one step only when no foreign key involves it (1.9 M gaps: 0.8 s against 27 s row by
    row). The rows are derived figures; deleting a tenant deletes them by ``tenant_id``.
    """

    __tablename__ = "coverage_gaps"
    __table_args__ = (
        Index("ix_coverage_gaps_rep", "tenant_id", "rep_id", "store_id"),
        Index("ix_coverage_gaps_distributor", "tenant_id", "distributor_id"),
    )

    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    rep_id: Mapped[str] = mapped_column(ExternalId())
    region_code: Mapped[str] = mapped_column(String(6))
    distributor_id: Mapped[str | None] = mapped_column(ExternalId())
    in_vip_group: Mapped[bool] = mapped_column(Boolean)
