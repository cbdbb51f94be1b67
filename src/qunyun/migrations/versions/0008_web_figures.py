"""Pre-aggregated figures of the console: member counts, coverage cells and gaps, a version

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SEATED = """
    SELECT m.tenant_id, m.member_id AS store_id,
           MAX(CASE WHEN g.matrix = 'store' THEN 1 ELSE 0 END) AS in_store,
           MAX(CASE WHEN g.matrix = 'vip' THEN 1 ELSE 0 END) AS in_vip
    FROM memberships m
    JOIN groups g ON g.tenant_id = m.tenant_id AND g.group_id = m.group_id
    WHERE m.member_kind = 'store' AND m.role = 'customer' AND m.left_at IS NULL
      AND g.archived_at IS NULL AND g.matrix IN ('store', 'vip')
    GROUP BY m.tenant_id, m.member_id
"""


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch_op:
        batch_op.add_column(
            sa.Column("member_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            "ix_groups_territory", ["tenant_id", "territory_rep_id", "group_id"], unique=False
        )
        batch_op.create_index(
            "ix_groups_region", ["tenant_id", "region_code", "group_id"], unique=False
        )
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.add_column(
            sa.Column("figures_version", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "coverage_cells",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("rep_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("in_store_group", sa.Integer(), nullable=False),
        sa.Column("in_any_group", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "rep_id", "region_code"),
    )
    op.create_table(
        "coverage_gaps",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("rep_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("distributor_id", sa.String(length=64), nullable=True),
        sa.Column("in_vip_group", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "store_id"),
    )
    op.create_index(
        "ix_coverage_gaps_rep", "coverage_gaps", ["tenant_id", "rep_id", "store_id"], unique=False
    )
    op.create_index(
        "ix_coverage_gaps_distributor",
        "coverage_gaps",
        ["tenant_id", "distributor_id"],
        unique=False,
    )
    # the figures of the data already there (the same rules as groups.figures)
    op.execute(
        """
        UPDATE groups SET member_count = (
            SELECT COUNT(*) FROM memberships m
            WHERE m.tenant_id = groups.tenant_id AND m.group_id = groups.group_id
              AND m.left_at IS NULL)
        """
    )
    op.execute(
        f"""
        INSERT INTO coverage_cells
            (tenant_id, rep_id, region_code, active, in_store_group, in_any_group)
        SELECT s.tenant_id, s.rep_id, s.region_code, COUNT(*),
               SUM(COALESCE(seated.in_store, 0)),
               SUM(CASE WHEN seated.store_id IS NULL THEN 0 ELSE 1 END)
        FROM stores s
        LEFT JOIN ({SEATED}) seated
          ON seated.tenant_id = s.tenant_id AND seated.store_id = s.store_id
        WHERE s.status = 'active'
        GROUP BY s.tenant_id, s.rep_id, s.region_code
        """
    )
    op.execute(
        f"""
        INSERT INTO coverage_gaps
            (tenant_id, store_id, rep_id, region_code, distributor_id, in_vip_group)
        SELECT s.tenant_id, s.store_id, s.rep_id, s.region_code, s.distributor_id,
               CASE WHEN seated.in_vip = 1 THEN TRUE ELSE FALSE END
        FROM stores s
        LEFT JOIN ({SEATED}) seated
          ON seated.tenant_id = s.tenant_id AND seated.store_id = s.store_id
        WHERE s.status = 'active' AND COALESCE(seated.in_store, 0) = 0
        """
    )


def downgrade() -> None:
    op.drop_index("ix_coverage_gaps_distributor", table_name="coverage_gaps")
    op.drop_index("ix_coverage_gaps_rep", table_name="coverage_gaps")
    op.drop_table("coverage_gaps")
    op.drop_table("coverage_cells")
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.drop_column("figures_version")
    with op.batch_alter_table("groups") as batch_op:
        batch_op.drop_index("ix_groups_region")
        batch_op.drop_index("ix_groups_territory")
        batch_op.drop_column("member_count")
