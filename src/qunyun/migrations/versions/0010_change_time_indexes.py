"""Indexes of the latest change time of stores and consumers, for the channel watermark

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Every plan and every apply fingerprints the channel (``groups.plans.channel_watermark``):
the row count and the latest ``updated_at`` of each channel table. Without an index the
latest change time of two million stores is a scan of the table (1.0 s on SQLite); with
``(tenant_id, updated_at)`` it is one step down the index, and the count a scan of the
smallest index (0.1 s for both).
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_stores_changes", "stores", ["tenant_id", "updated_at"])
    op.create_index("ix_consumers_changes", "consumers", ["tenant_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_consumers_changes", table_name="consumers")
    op.drop_index("ix_stores_changes", table_name="stores")
