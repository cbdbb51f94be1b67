from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from qunyun.models import Base


def test_migrations_create_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert diffs == []
    assert {"red_packets", "red_packet_shares", "flash_sales", "order_lines"} <= set(
        Base.metadata.tables
    )
