"""Benchmark: group daily from the event lake vs hand-written DuckDB SQL vs pandas, same data.

Generates N events (members, groups and days configurable; heavy-tailed groups and members,
evening peaks, 10% of senders staff) as one raw Parquet file with string ids, imports it into
a lake with `do_import_events` (timed), then times the group-daily computation three ways, each
from files on disk to a result in memory, and checks that the three results are equal:

- lake: Qunyun's Ibis expression on DuckDB over the lake (dense keys, day precomputed);
- raw SQL: hand-written DuckDB SQL over the raw file (string ids, zone conversion per event);
- pandas: the same over the raw file with pandas (skipped when pandas is not installed).

    .venv/bin/python benchmarks/events_group_daily.py --events 10000000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

KINDS = np.array(["message", "join", "leave", "red_packet_grab", "content_view"])
KIND_SHARES = np.array([0.80, 0.05, 0.03, 0.05, 0.07])
START = datetime(2026, 8, 1, tzinfo=UTC)
HEADER = [
    "date",
    "group_id",
    "messages",
    "active_members",
    "staff_messages",
    "customer_messages",
    "joins",
    "leaves",
]


def generate(path: Path, events: int, members: int, groups: int, days: int, seed: int) -> None:
    """Write ``events`` raw events to ``path`` (Parquet, string ids, timestamptz)."""
    rng = np.random.default_rng(seed)
    group_ids = pc.binary_join_element_wise("SG", pa.array(np.arange(groups)).cast(pa.string()), "")
    member_ids = pc.binary_join_element_wise(
        "M", pa.array(np.arange(members)).cast(pa.string()), ""
    )
    written = 0
    writer: pq.ParquetWriter | None = None
    chunk = 2_000_000
    while written < events:
        size = min(chunk, events - written)
        group = np.minimum(rng.zipf(1.3, size) - 1, groups - 1)
        group = (group * 7919 + rng.integers(0, 3, size)) % groups  # spread the heavy ones
        member = np.minimum(rng.zipf(1.2, size) - 1, members - 1)
        member = (member * 104729) % members
        day = rng.integers(0, days, size)
        hour = rng.choice(24, size, p=_hour_shares())
        seconds = day * 86400 + (hour - 8) * 3600 + rng.integers(0, 3600, size)
        ts = (int(START.timestamp()) + seconds) * 1000 + rng.integers(0, 1000, size)
        kind = KINDS[rng.choice(len(KINDS), size, p=KIND_SHARES)]
        staff = rng.random(size) < 0.10
        outside = rng.random(size) < 0.02
        groups_column = pc.take(group_ids, pa.array(group))
        groups_column = pc.if_else(pa.array(outside), pa.scalar(None, pa.string()), groups_column)
        table = pa.table(
            {
                "event_id": pc.binary_join_element_wise(
                    "E", pa.array(np.arange(written, written + size)).cast(pa.string()), ""
                ),
                "ts": pa.array(ts).cast(pa.timestamp("ms", tz="UTC")),
                "kind": pa.array(kind),
                "group_id": groups_column,
                "member_kind": pa.array(np.where(staff, "staff", "store")),
                "member_id": pc.take(member_ids, pa.array(member)),
                "red_packet_id": _only_for(kind, "red_packet_grab", "RP1"),
                "content_id": _only_for(kind, "content_view", "CT1"),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
        written += size
    assert writer is not None
    writer.close()


def _only_for(kind: np.ndarray, wanted: str, value: str) -> pa.Array:
    return pa.array(np.where(kind == wanted, value, None), pa.string())


def _hour_shares() -> np.ndarray:
    shares = np.array([1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 8, 8, 9, 8, 7, 7, 7, 8, 9, 12, 14, 12, 6, 3])
    return shares / shares.sum()


RAW_SQL = """
SELECT CAST(timezone('Asia/Shanghai', ts) AS DATE) AS date,
       group_id,
       count(*) FILTER (WHERE kind = 'message') AS messages,
       count(DISTINCT (member_kind, member_id)) FILTER (WHERE kind = 'message') AS active_members,
       count(*) FILTER (WHERE kind = 'message' AND member_kind = 'staff') AS staff_messages,
       count(*) FILTER (WHERE kind = 'message' AND member_kind <> 'staff') AS customer_messages,
       count(*) FILTER (WHERE kind = 'join') AS joins,
       count(*) FILTER (WHERE kind = 'leave') AS leaves
FROM read_parquet({path})
WHERE group_id IS NOT NULL AND group_id <> ''
GROUP BY 1, 2
ORDER BY 1, 2
"""


def raw_sql(path: Path) -> pa.Table:
    connection = duckdb.connect()
    try:
        quoted = "'" + str(path).replace("'", "''") + "'"
        return connection.sql(RAW_SQL.format(path=quoted)).to_arrow_table()
    finally:
        connection.close()


def with_pandas(path: Path) -> pa.Table | None:
    try:
        import pandas as pd
    except ImportError:
        return None
    frame = pd.read_parquet(path, columns=["ts", "kind", "group_id", "member_kind", "member_id"])
    frame = frame[frame["group_id"].notna() & (frame["group_id"] != "")]
    frame["date"] = frame["ts"].dt.tz_convert("Asia/Shanghai").dt.date
    is_message = frame["kind"] == "message"
    is_staff = frame["member_kind"] == "staff"
    frame["messages"] = is_message
    frame["staff_messages"] = is_message & is_staff
    frame["customer_messages"] = is_message & ~is_staff
    frame["joins"] = frame["kind"] == "join"
    frame["leaves"] = frame["kind"] == "leave"
    keys = ["date", "group_id"]
    counts = frame.groupby(keys, sort=False)[
        ["messages", "staff_messages", "customer_messages", "joins", "leaves"]
    ].sum()
    senders = (
        frame[is_message]
        .drop_duplicates(["date", "group_id", "member_kind", "member_id"])
        .groupby(keys, sort=False)
        .size()
        .rename("active_members")
    )
    result = counts.join(senders, how="left").fillna({"active_members": 0}).reset_index()
    result = result.sort_values(keys)[HEADER].astype(dict.fromkeys(HEADER[2:], "int64"))
    return pa.Table.from_pandas(result, preserve_index=False)


def lake_group_daily(lake: Any) -> pa.Table:
    from qunyun.analytics.group_daily import group_daily
    from qunyun.analytics.lake import open_lake

    return group_daily(open_lake(lake)).to_pyarrow()


def _normalised(table: pa.Table) -> list[tuple[Any, ...]]:
    table = table.select(HEADER)
    columns = [table.column(name).to_pylist() for name in HEADER]
    return sorted(zip(*columns, strict=True))


def timed(label: str, run: Any, runs: int) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    print(f"{label}: {best:.2f} s (best of {runs})", file=sys.stderr)
    return best, result


def split_last_day(raw: Path, head: Path, tail: Path) -> int:
    """Write the events before the last local day to ``head`` and that day's to ``tail``."""
    connection = duckdb.connect()
    try:
        source = "'" + str(raw).replace("'", "''") + "'"
        local = "CAST(timezone('Asia/Shanghai', ts) AS DATE)"
        last = connection.sql(f"SELECT max({local}) FROM read_parquet({source})").fetchall()[0][0]
        for target, condition in ((head, "<"), (tail, "=")):
            connection.execute(
                f"COPY (SELECT * FROM read_parquet({source}) WHERE {local} {condition} DATE "
                f"'{last}') TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
            )
        rows = connection.sql(f"SELECT count(*) FROM read_parquet('{tail}')").fetchall()[0][0]
        return int(rows)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--groups", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas baseline")
    args = parser.parse_args()

    from qunyun.analytics.group_health import group_health
    from qunyun.analytics.lake import open_lake
    from qunyun.analytics.member_levels import latest_day, member_levels
    from qunyun.events.actions import do_import_events, do_rebuild_rollups, tenant_lake
    from qunyun.org.models import Tenant

    work = Path(tempfile.mkdtemp(prefix="qunyun-events-"))
    raw = work / "events.parquet"
    start = time.perf_counter()
    generate(raw, args.events, args.members, args.groups, args.days, args.seed)
    print(
        f"generated {args.events:,} events in {time.perf_counter() - start:.1f} s "
        f"({raw.stat().st_size / 2**20:,.0f} MiB)",
        file=sys.stderr,
    )
    head, tail = work / "head.parquet", work / "tail.parquet"
    tail_rows = split_last_day(raw, head, tail)
    tenant = Tenant(slug="bench", name="bench", timezone="Asia/Shanghai", created_at=START)
    root = work / "lake"
    start = time.perf_counter()
    report = do_import_events(tenant, head, root=root)
    imported = time.perf_counter() - start
    lake = tenant_lake(tenant, root)
    size = sum(path.stat().st_size for path in root.rglob("*.parquet")) / 2**20
    print(
        f"imported {report.accepted:,} events ({args.days - 1} days) in {imported:.1f} s "
        f"({report.accepted / imported:,.0f} events/s); lake {size:,.0f} MiB",
        file=sys.stderr,
    )
    start = time.perf_counter()
    do_import_events(tenant, tail, root=root)
    _, ours = timed("group daily from the lake", lambda: lake_group_daily(lake), 1)
    added = time.perf_counter() - start
    print(
        f"added the last day ({tail_rows:,} events) and refreshed in {added:.2f} s", file=sys.stderr
    )

    query_time, ours = timed("group daily from the lake", lambda: lake_group_daily(lake), args.runs)

    def recompute() -> pa.Table:
        do_rebuild_rollups(tenant, root=root)
        return lake_group_daily(lake)

    full_time, ours = timed("full recompute: every day's rollup + group daily", recompute, 1)

    def others() -> None:
        tables = open_lake(lake)
        as_of = latest_day(tables)
        assert as_of is not None
        group_health(tables, as_of)
        member_levels(tables, as_of).to_pyarrow()

    others_time, _ = timed("group health + member levels from the lake", others, args.runs)
    sql_time, by_sql = timed("raw file, hand-written DuckDB SQL", lambda: raw_sql(raw), args.runs)
    expected = _normalised(by_sql)
    assert _normalised(ours) == expected, "lake and raw SQL disagree"
    pandas_cell = "n/a"
    if not args.no_pandas:
        pandas_time, by_pandas = timed("raw file, pandas", lambda: with_pandas(raw), 1)
        if by_pandas is not None:
            assert _normalised(by_pandas) == expected, "pandas and raw SQL disagree"
            pandas_cell = f"{pandas_time:.2f} s"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| {datetime.now(UTC):%Y-%m-%d} | {args.events:,} | {args.members:,} | {args.groups:,} "
        f"| {args.days} | {len(expected):,} | {imported:.1f} s | **{query_time:.2f} s** "
        f"| {full_time:.2f} s | {added:.2f} s | {others_time:.2f} s | {sql_time:.2f} s "
        f"| {pandas_cell} | {peak:,.0f} MiB |"
    )


if __name__ == "__main__":
    main()
