from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, event

from qunyun.channel.imports import do_import
from qunyun.core.db import unit_of_work
from qunyun.org.models import Tenant
from qunyun.org.queries import two_levels_above

from ..channel.sample import STAFF_CSV, write


def test_two_levels_above_a_rep_is_one_query(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    with unit_of_work(engine) as session:
        do_import(session, tenant, "staff", write(tmp_path, "s.csv", STAFF_CSV))
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    with unit_of_work(engine) as session:
        session.connection()  # the transaction's BEGIN is not part of the query
        event.listen(engine, "before_cursor_execute", count)
        try:
            found = two_levels_above(session, tenant.id, ["R1", "R2", "S1", "D1", "ghost"])
        finally:
            event.remove(engine, "before_cursor_execute", count)

    assert found == {
        "R1": ("S1", "M1"),
        "R2": ("S1", "M1"),
        "S1": ("M1", "D1"),
        "D1": (None, None),
    }
    assert len(statements) == 1
