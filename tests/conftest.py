"""Fixtures: every database test runs on SQLite and on the real PostgreSQL; Redis tests on Redis.

PostgreSQL comes from ``QUNYUN_TEST_POSTGRES_URL`` (default: the local server, database
``test``); each pytest process makes its own database ``qunyun_test_<pid>`` there and drops it
at the end, so that runs side by side do not clobber each other. When the server is missing,
the PostgreSQL half fails under CI (``CI`` set) and is skipped elsewhere.

Redis comes from ``QUNYUN_TEST_REDIS_URL`` (default: the local server, database 15); every
test that uses it gets its own key prefix, deleted at the end. Missing Redis fails under CI
too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner, Result

from qunyun.activation.hot import RedisHotState
from qunyun.cli import main as cli_main
from qunyun.cli.main import app
from qunyun.core import db as db_module
from qunyun.core import settings as settings_module
from qunyun.core.db import Base, engine_for, migrate, unit_of_work
from qunyun.org import accounts
from qunyun.org.actions import do_create_tenant
from qunyun.org.models import Tenant

POSTGRES_ADMIN_URL = os.environ.get(
    "QUNYUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TEST_DATABASE = f"qunyun_test_{os.getpid()}"
KEPT_TABLES = {"regions", "alembic_version"}
REDIS_URL = os.environ.get("QUNYUN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _admin_execute(statement: str) -> None:
    admin = create_engine(
        POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


def _postgres_url() -> str:
    try:
        _admin_execute(f"DROP DATABASE IF EXISTS {TEST_DATABASE} WITH (FORCE)")
        _admin_execute(f"CREATE DATABASE {TEST_DATABASE}")
    except Exception as error:
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{TEST_DATABASE}".replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashes() -> Iterator[None]:
    """Hash test passwords with cheap argon2 parameters (the real ones cost ~60 ms a hash)."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "password_hasher", lambda: fast)
        yield


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Return the URL of a migrated test database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'qunyun.db'}"
    else:
        url = _postgres_url()
    migrate(engine_for(url))
    yield url
    engine = engine_for(url)
    engine.dispose()
    if request.param == "postgresql":
        _admin_execute(f"DROP DATABASE IF EXISTS {TEST_DATABASE} WITH (FORCE)")
        # pytest may build this fixture again later in the run (it does under xdist): the
        # database made then is empty, so the process must not remember it as migrated.
        db_module._migrated.discard(str(engine.url))


def _clean(engine: Engine) -> None:
    tables = [table for table in Base.metadata.sorted_tables if table.name not in KEPT_TABLES]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                connection.execute(table.delete())


@pytest.fixture
def engine(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Return an empty, migrated database, configured as the process database."""
    monkeypatch.setenv("QUNYUN_DATABASE_URL", database_url)
    monkeypatch.setenv("QUNYUN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    # the CLI's consoles fix their width when created if COLUMNS is set then (pytest-xdist's
    # workers start with COLUMNS=80): give them the same 200 columns
    for shown in (cli_main.console, cli_main.err_console):
        monkeypatch.setattr(shown, "width", 200)
    settings_module.get_settings.cache_clear()
    engine = engine_for(database_url)
    _clean(engine)
    yield engine
    settings_module.get_settings.cache_clear()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Return the URL of the test Redis; skip (fail under CI) when it does not answer."""
    try:
        RedisHotState.from_url(REDIS_URL).client.ping()
    except Exception as error:
        message = f"Redis is not reachable at {REDIS_URL}: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
def hot(redis_url: str) -> Iterator[RedisHotState]:
    """Return Redis hot state under a key prefix of this test alone, deleted afterwards."""
    state = RedisHotState.from_url(redis_url, prefix=f"qunyun-test-{uuid.uuid4().hex[:12]}:")
    yield state
    state.clear()
    state.client.close()


@pytest.fixture
def tenant(engine: Engine) -> Tenant:
    """Return a fresh tenant ``acme``."""
    with unit_of_work(engine) as session:
        return do_create_tenant(session, "acme", "示例饮料")


class Cli:
    """Runs ``qunyun`` commands in-process, as a user would type them."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, expect: int | None = 0) -> Result:
        result = self.runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, result.output
        return result


@pytest.fixture
def cli(engine: Engine) -> Cli:
    """Return a runner of ``qunyun`` against the test database."""
    return Cli()
