"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from qunyun.org.regions import catalogue

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "regions",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("parent_code", sa.String(length=6), nullable=True),
        sa.Column("province_code", sa.String(length=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["regions.code"], name=op.f("fk_regions_parent_code_regions")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_regions")),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "consumers",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "seed",
                "kol",
                "fan",
                "ordinary",
                name="consumer_role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("kol_kind", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_consumers_region_code_regions")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_consumers_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "consumer_id", name=op.f("pk_consumers")),
    )
    with op.batch_alter_table("consumers", schema=None) as batch_op:
        batch_op.create_index("ix_consumers_region", ["tenant_id", "region_code"], unique=False)

    op.create_table(
        "distributors",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("distributor_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.SmallInteger(), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("boss_name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tier >= 1", name=op.f("ck_distributors_tier_positive")),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_distributors_region_code_regions")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "parent_id"],
            ["distributors.tenant_id", "distributors.distributor_id"],
            name=op.f("fk_distributors_tenant_id_parent_id_distributors"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_distributors_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "distributor_id", name=op.f("pk_distributors")),
    )
    with op.batch_alter_table("distributors", schema=None) as batch_op:
        batch_op.create_index("ix_distributors_parent", ["tenant_id", "parent_id"], unique=False)

    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_import_runs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.create_index("ix_import_runs_tenant", ["tenant_id", "finished_at"], unique=False)

    op.create_table(
        "staff",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "director",
                "manager",
                "supervisor",
                "rep",
                "group_admin",
                name="staff_role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("manager_id", sa.String(length=64), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_staff_region_code_regions")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "manager_id"],
            ["staff.tenant_id", "staff.staff_id"],
            name=op.f("fk_staff_tenant_id_manager_id_staff"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_staff_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "staff_id", name=op.f("pk_staff")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index("ix_staff_manager", ["tenant_id", "manager_id"], unique=False)

    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tags_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_tags_tenant_id_name")),
    )
    op.create_table(
        "contact_tags",
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column(
            "contact_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="contact_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_contact_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_tags_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tag_id", "contact_kind", "contact_id", name=op.f("pk_contact_tags")
        ),
    )
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_tags_contact", ["tenant_id", "contact_kind", "contact_id"], unique=False
        )

    op.create_table(
        "groups",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "matrix",
            sa.Enum(
                "dealer",
                "store",
                "consumer",
                "vip",
                name="matrix",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("territory_rep_id", sa.String(length=64), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("external_chat_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_groups_region_code_regions")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "territory_rep_id"],
            ["staff.tenant_id", "staff.staff_id"],
            name=op.f("fk_groups_tenant_id_territory_rep_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_groups_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", name=op.f("pk_groups")),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index("ix_groups_matrix", ["tenant_id", "matrix"], unique=False)

    op.create_table(
        "stores",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column(
            "store_type",
            sa.Enum(
                "convenience",
                "supermarket",
                "restaurant",
                "tobacco_liquor",
                "mother_baby",
                "wholesale",
                "other",
                name="store_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("annual_purchase_fen", sa.BigInteger(), nullable=True),
        sa.Column(
            "scale_tier",
            sa.Enum(
                "A", "B", "C", "D", name="scale_tier", native_enum=False, create_constraint=True
            ),
            nullable=True,
        ),
        sa.Column("closeness", sa.SmallInteger(), nullable=False),
        sa.Column(
            "growth",
            sa.Enum(
                "potential",
                "stable",
                "declining",
                name="growth",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("rep_id", sa.String(length=64), nullable=False),
        sa.Column("distributor_id", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("wechat_id", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active", "closed", name="store_status", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "annual_purchase_fen >= 0", name=op.f("ck_stores_purchase_not_negative")
        ),
        sa.CheckConstraint("closeness BETWEEN 1 AND 5", name=op.f("ck_stores_closeness_range")),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_stores_region_code_regions")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "distributor_id"],
            ["distributors.tenant_id", "distributors.distributor_id"],
            name=op.f("fk_stores_tenant_id_distributor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "rep_id"],
            ["staff.tenant_id", "staff.staff_id"],
            name=op.f("fk_stores_tenant_id_rep_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_stores_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "store_id", name=op.f("pk_stores")),
    )
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stores_distributor", ["tenant_id", "distributor_id"], unique=False
        )
        batch_op.create_index("ix_stores_region", ["tenant_id", "region_code"], unique=False)
        batch_op.create_index("ix_stores_rep", ["tenant_id", "rep_id"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="member_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "customer",
                "rep",
                "supervisor",
                "manager",
                "director",
                "admin",
                "kol",
                name="member_role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["groups.tenant_id", "groups.group_id"],
            name=op.f("fk_memberships_tenant_id_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_memberships_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index("ix_memberships_group", ["tenant_id", "group_id"], unique=False)
        batch_op.create_index(
            "ix_memberships_member", ["tenant_id", "member_kind", "member_id"], unique=False
        )
        batch_op.create_index(
            "uq_memberships_open",
            ["tenant_id", "group_id", "member_kind", "member_id"],
            unique=True,
            sqlite_where=sa.text("left_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL"),
        )

    regions = sa.table(
        "regions",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("level", sa.String),
        sa.column("parent_code", sa.String),
        sa.column("province_code", sa.String),
    )
    # Parents come before their children in the catalogue, as the foreign key needs.
    op.bulk_insert(
        regions,
        [
            {
                "code": region.code,
                "name": region.name,
                "level": region.level,
                "parent_code": region.parent_code,
                "province_code": region.province_code,
            }
            for region in catalogue().by_code.values()
        ],
    )


def downgrade() -> None:

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_memberships_open",
            sqlite_where=sa.text("left_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL"),
        )
        batch_op.drop_index("ix_memberships_member")
        batch_op.drop_index("ix_memberships_group")

    op.drop_table("memberships")
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_index("ix_stores_rep")
        batch_op.drop_index("ix_stores_region")
        batch_op.drop_index("ix_stores_distributor")

    op.drop_table("stores")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index("ix_groups_matrix")

    op.drop_table("groups")
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_tags_contact")

    op.drop_table("contact_tags")
    op.drop_table("tags")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_manager")

    op.drop_table("staff")
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_import_runs_tenant")

    op.drop_table("import_runs")
    with op.batch_alter_table("distributors", schema=None) as batch_op:
        batch_op.drop_index("ix_distributors_parent")

    op.drop_table("distributors")
    with op.batch_alter_table("consumers", schema=None) as batch_op:
        batch_op.drop_index("ix_consumers_region")

    op.drop_table("consumers")
    op.drop_table("tenants")
    op.drop_table("regions")
