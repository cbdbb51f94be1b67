"""Alembic environment: runs on the connection Qunyun hands over, or on QUNYUN_* settings."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from qunyun.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    from qunyun.core.settings import get_settings

    engine = engine_from_config(
        {"sqlalchemy.url": get_settings().resolved_database_url}, poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
