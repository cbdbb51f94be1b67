"""The plan's big reads are answered from covering indexes alone (migration 0009)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from qunyun.groups.plans import (
    ACTIVE_STORES_SQL,
    OTHER_SEATS_SQL,
    STORE_SEATS_SQL,
    joined_ids,
)

STORE_CUSTOMER = (1, "store", "customer")
READS = {
    "active stores": (ACTIVE_STORES_SQL, (1, "active"), "stores", "ix_stores_plan_facts"),
    "store seats": (STORE_SEATS_SQL, STORE_CUSTOMER, "memberships", "ix_memberships_open_seats"),
    "other seats": (OTHER_SEATS_SQL, STORE_CUSTOMER, "memberships", "ix_memberships_open_seats"),
}
SQLITE_SEARCH = {
    "active stores": "tenant_id=? AND status=?",
    "store seats": "tenant_id=?",
    "other seats": "tenant_id=?",
}


@pytest.mark.parametrize("read", sorted(READS))
def test_each_big_read_of_a_plan_needs_no_table_lookup(engine: Engine, read: str) -> None:
    # given one of the plan's reads of millions of rows
    sql, parameters, table, index = READS[read]

    with engine.connect() as connection:
        sql = sql.format(joined=joined_ids(connection))
        if engine.dialect.name == "postgresql":
            # when PostgreSQL plans it (kept off the table scans it picks for small tables)
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_bitmapscan = off")
            plan = connection.exec_driver_sql("EXPLAIN " + sql.replace("?", "%s"), parameters)
            scans = [
                line.strip().removeprefix("->").strip().split("  (cost")[0]
                for (line,) in plan
                if "Scan" in line
            ]
            # then it scans the index alone
            assert scans == [f"Index Only Scan using {index} on {table}"]
        else:
            # when SQLite plans it, then it searches the covering index and nothing else
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters)
            assert [row[3] for row in plan] == [
                f"SEARCH {table} USING COVERING INDEX {index} ({SQLITE_SEARCH[read]})"
            ]
