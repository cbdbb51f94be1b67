"""The company account that owns a brand's groups, and each group's owner

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

A group's owner (群主) is the company, never a person: the tenant names its company account
(``tenants.company_account_id``, the slug for the brands that exist), and every group records
its owner (``groups.owner_id``): the company account for the groups that exist, so that the
audit can report a group a chat platform says a person owns.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("company_account_id", sa.String(length=64), nullable=False, server_default=""),
    )
    op.add_column("groups", sa.Column("owner_id", sa.String(length=64), nullable=True))
    op.execute("UPDATE tenants SET company_account_id = slug")
    op.execute(
        "UPDATE groups SET owner_id = "
        "(SELECT company_account_id FROM tenants WHERE tenants.id = groups.tenant_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("owner_id")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("company_account_id")
