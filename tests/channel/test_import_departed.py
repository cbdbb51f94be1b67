"""Imports that meet staff who left: keeping a departed person's rows, refusing new ones."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from qunyun.channel.models import Store
from qunyun.core.db import unit_of_work

from ..conftest import Cli
from .sample import DISTRIBUTORS_CSV, STAFF_CSV, STORES_CSV, write


def _stores(engine: Engine) -> dict[str, tuple[str, str]]:
    with unit_of_work(engine) as session:
        return {
            store_id: (name, rep_id)
            for store_id, name, rep_id in session.execute(
                select(Store.store_id, Store.name, Store.rep_id)
            )
        }


def _loaded(cli: Cli, tmp_path: Path) -> Path:
    cli("tenant", "create", "acme", "--name", "A")
    cli("import", "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    cli("import", "distributors", write(tmp_path, "d.csv", DISTRIBUTORS_CSV))
    stores = write(tmp_path, "stores.csv", STORES_CSV)
    cli("import", "stores", stores)
    return stores


def test_reimporting_the_weekly_file_after_a_rep_left_is_accepted_unchanged(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given the weekly store file imported, then rep R2 (store S0002) leaves before a handover
    stores = _loaded(cli, tmp_path)
    cli("staff", "leave", "R2")
    before = _stores(engine)

    # when the same file comes again
    result = cli("import", "stores", stores)

    # then it is accepted and nothing changes
    assert "读取 3 行 · 新增 0 · 更新 0 · 未变 3 · 拒绝 0" in result.output
    assert _stores(engine) == before
