from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from qunyun.core import settings
from qunyun.core.clock import format_local, local_date
from qunyun.core.db import UTCDateTime, engine_for, get_engine, table_names


def test_embedded_default_is_sqlite_in_wal_mode_under_qunyun_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUNYUN_DATABASE_URL", raising=False)
    monkeypatch.setenv("QUNYUN_HOME", str(tmp_path / "data"))
    settings.get_settings.cache_clear()
    try:
        engine = get_engine()
        with engine.connect() as connection:
            mode = connection.execute(text("PRAGMA journal_mode")).scalar()
            foreign_keys = connection.execute(text("PRAGMA foreign_keys")).scalar()
            regions = connection.execute(text("SELECT count(*) FROM regions")).scalar()
    finally:
        settings.get_settings.cache_clear()

    assert engine.url.database == str(tmp_path / "data" / "qunyun.db")
    assert (mode, foreign_keys, regions) == ("wal", 1, 3216)
    assert "stores" in table_names(engine)


def test_postgres_urls_get_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNYUN_DATABASE_URL", "postgres://u@db:5432/q")
    settings.get_settings.cache_clear()
    try:
        assert settings.get_settings().resolved_database_url == "postgresql+psycopg://u@db:5432/q"
    finally:
        settings.get_settings.cache_clear()


def test_naive_datetimes_are_refused() -> None:
    dialect = engine_for("sqlite://").dialect

    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), dialect)  # noqa: DTZ001


def test_days_are_bucketed_in_shanghai() -> None:
    late_evening_utc = datetime.fromisoformat("2026-03-01T17:30:00+00:00")

    assert str(local_date(late_evening_utc)) == "2026-03-02"
    assert format_local(late_evening_utc) == "2026-03-02 01:30"
