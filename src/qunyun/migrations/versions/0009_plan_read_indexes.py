"""Covering indexes for the plan's two big reads; coverage gaps without a foreign key

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

A plan reads every active store of the tenant and every open stay (millions of rows for a
national brand). Through the primary key and ``uq_memberships_open`` each row cost a lookup
in the table as well; these indexes hold every column the reads ask for, so SQLite answers
them from the index alone. The stays index carries ``left_at`` because SQLite uses a partial
index as covering only when it holds the columns of its own WHERE clause.

``coverage_gaps`` loses its foreign key to ``tenants``: the first apply of a brand clears
every gap (all its active stores), and SQLite erases a whole table in one step only when no
foreign key involves it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STORE_FACTS = [
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
]
OPEN_STAYS = ["tenant_id", "group_id", "member_kind", "member_id", "role", "left_at"]


def upgrade() -> None:
    op.create_index("ix_stores_plan_facts", "stores", STORE_FACTS)
    op.create_index(
        "ix_memberships_open_seats",
        "memberships",
        OPEN_STAYS,
        sqlite_where=sa.text("left_at IS NULL"),
        postgresql_where=sa.text("left_at IS NULL"),
    )
    with op.batch_alter_table("coverage_gaps") as batch_op:
        batch_op.drop_constraint("fk_coverage_gaps_tenant_id_tenants", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("coverage_gaps") as batch_op:
        batch_op.create_foreign_key(
            "fk_coverage_gaps_tenant_id_tenants",
            "tenants",
            ["tenant_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.drop_index("ix_memberships_open_seats", table_name="memberships")
    op.drop_index("ix_stores_plan_facts", table_name="stores")
