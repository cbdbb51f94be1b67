"""Orders in the activation events outbox: the lake's ``order_id`` of an ``order`` event

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Flash-sale orders, the members of a completed 拼团 team and 接龙 orders made at a cutoff are
``order`` events on their way to the lake; the lake requires an ``order_id`` for them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("activation_events", sa.Column("order_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("activation_events") as batch:
        batch.drop_column("order_id")
