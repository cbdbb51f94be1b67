"""plan revisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "applied",
                "superseded",
                name="revision_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("channel_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_by", sa.String(length=100), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_plan_revisions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_revisions")),
    )
    with op.batch_alter_table("plan_revisions", schema=None) as batch_op:
        batch_op.create_index("ix_plan_revisions_tenant", ["tenant_id", "status"], unique=False)

    op.create_table(
        "plan_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "create_group",
                "archive_group",
                "join",
                "leave",
                name="change_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=True),
        sa.Column(
            "matrix",
            sa.Enum(
                "dealer",
                "store",
                "consumer",
                "vip",
                name="change_matrix",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("territory_rep_id", sa.String(length=64), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="change_member_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("member_ids", sa.Text(), nullable=True),
        sa.Column(
            "member_role",
            sa.Enum(
                "customer",
                "rep",
                "supervisor",
                "manager",
                "director",
                "admin",
                "kol",
                name="change_member_role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["plan_revisions.id"],
            name=op.f("fk_plan_changes_revision_id_plan_revisions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_plan_changes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_changes")),
    )
    with op.batch_alter_table("plan_changes", schema=None) as batch_op:
        batch_op.create_index("ix_plan_changes_group", ["tenant_id", "group_id"], unique=False)
        batch_op.create_index("ix_plan_changes_revision", ["revision_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("plan_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_changes_revision")
        batch_op.drop_index("ix_plan_changes_group")

    op.drop_table("plan_changes")
    with op.batch_alter_table("plan_revisions", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_revisions_tenant")

    op.drop_table("plan_revisions")
