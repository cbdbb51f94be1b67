"""Migration 0011 gives the brands that exist a company account and their groups an owner."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from qunyun.core.db import alembic_config


def test_the_groups_that_exist_are_owned_by_their_tenants_slug(tmp_path: Path) -> None:
    # given a database at 0010 with a brand and one of its groups
    engine = create_engine(f"sqlite:///{tmp_path / 'q.db'}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0010")
        connection.execute(
            text(
                "INSERT INTO tenants (id, slug, name, timezone, created_at) "
                "VALUES (7, 'acme', '示例饮料', 'Asia/Shanghai', '2026-12-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO groups (tenant_id, group_id, name, matrix, created_at) "
                "VALUES (7, 'SG000001', '天河群', 'store', '2026-12-01 00:00:00')"
            )
        )

    # when it is migrated to 0011, and back
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0011")
        upgraded = connection.execute(
            text(
                "SELECT company_account_id, owner_id FROM tenants "
                "JOIN groups ON groups.tenant_id = tenants.id"
            )
        ).all()
        command.downgrade(config, "0010")
        columns = {row[1] for row in connection.execute(text("PRAGMA table_info(groups)"))}

    # then the tenant's account is its slug and owns the group; the downgrade drops both
    assert [tuple(row) for row in upgraded] == [("acme", "acme")]
    assert "owner_id" not in columns
    engine.dispose()
