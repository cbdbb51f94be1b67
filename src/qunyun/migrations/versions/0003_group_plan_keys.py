"""Plan keys of dealer, consumer and VIP groups

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch_op:
        batch_op.add_column(sa.Column("plan_key", sa.String(length=100), nullable=True))
    with op.batch_alter_table("plan_changes") as batch_op:
        batch_op.add_column(sa.Column("plan_key", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plan_changes") as batch_op:
        batch_op.drop_column("plan_key")
    with op.batch_alter_table("groups") as batch_op:
        batch_op.drop_column("plan_key")
