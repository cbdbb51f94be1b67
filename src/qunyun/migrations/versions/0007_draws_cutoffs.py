"""Lucky draws: prizes, entry window and public tickets; per-tenant 接龙 cutoff times

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lucky_draw_prizes",
        sa.Column("draw_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_lucky_draw_prizes_rank")),
        sa.ForeignKeyConstraint(
            ["draw_id"],
            ["lucky_draws.id"],
            name=op.f("fk_lucky_draw_prizes_draw_id_lucky_draws"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_lucky_draw_prizes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("draw_id", "rank", name=op.f("pk_lucky_draw_prizes")),
    )
    op.create_table(
        "order_cutoff_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("cutoffs", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_order_cutoff_settings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_order_cutoff_settings")),
    )
    with op.batch_alter_table("lucky_draws", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entries_open_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("lucky_draw_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ticket", sa.String(length=16), nullable=True))
        batch_op.create_index(
            "ix_lucky_draw_entries_draw_id_ticket", ["draw_id", "ticket"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("lucky_draw_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_lucky_draw_entries_draw_id_ticket")
        batch_op.drop_column("ticket")
    with op.batch_alter_table("lucky_draws", schema=None) as batch_op:
        batch_op.drop_column("entries_open_at")
    op.drop_table("order_cutoff_settings")
    op.drop_table("lucky_draw_prizes")
