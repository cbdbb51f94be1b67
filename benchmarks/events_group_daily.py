"""Benchmark: group daily, member daily and group health from the lake vs raw SQL vs pandas.

Generates N events (members, groups and days configurable; heavy-tailed groups and members,
evening peaks, 10% of senders staff) as raw Parquet files with string ids, one per local day,
streamed one day at a time. Imports every day but the last ``--added-days`` into a lake, one
import per day (`do_import_events`, timed step by step), and keeps that lake for later runs.
A run starts from a hard-linked copy of it and adds the held-out days one import at a time:
**add a day** = the import (which refreshes that day's rollups) + that day's group-daily rows
+ group health on that day. Then it computes the issue's three analyses — member daily (one
row per local day, group and member with a count per event kind, written to Parquet), group
daily (the export's rows) and group health (every group's figures and status on the last
day) — three ways, each from files on disk, and checks that the three agree:

- lake, **full recomputation**: every day's member-daily and group-daily rollup rebuilt from
  the stored events (`do_rebuild_rollups`), then the group-daily export and group health;
  and **refresh** of the last day: its rollups, its group daily, group health;
- raw SQL: hand-written DuckDB SQL over the raw files (string ids, the local day from a zone
  conversion per event, no deduplication, which favours it): member daily written to
  Parquet, group daily and group health from it;
- pandas: the same over the raw files with pandas, out of core: one pass splits them by a
  hash of `group_id` into parts of at most `--pandas-part` events (every analysis is per
  group, so each part is exact on its own), then each part is computed in memory.

    .venv/bin/python benchmarks/events_group_daily.py --events 10000000
    .venv/bin/python benchmarks/events_group_daily.py --events 100000000 \
        --members 2000000 --groups 50000 --runs 1 --work /tmp/qunyun-events-1e8
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import math
import os
import pstats
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
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
ZONE = "Asia/Shanghai"
DUCKDB_MEMORY = "4GB"
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
SUMMED = ["messages", "active_members", "staff_messages", "customer_messages", "joins", "leaves"]
HEALTH = [
    "group_id",
    "status",
    "customer_messages",
    "active_days",
    "customer_senders",
    "staff_messages",
    "previous_customer_messages",
    "trend",
    "last_customer_message",
]


def generate(folder: Path, events: int, members: int, groups: int, days: int, seed: int) -> None:
    """Write ``events`` raw events, one Parquet file per local day (string ids, timestamptz).

    Streams one day at a time (about events / days in memory), so that 10^8 events fit; a
    day file appears under its final name only once written whole.
    """
    rng = np.random.default_rng(seed)
    group_ids = pc.binary_join_element_wise("SG", pa.array(np.arange(groups)).cast(pa.string()), "")
    member_ids = pc.binary_join_element_wise(
        "M", pa.array(np.arange(members)).cast(pa.string()), ""
    )
    per_day = np.full(days, events // days)
    per_day[: events % days] += 1
    written = 0
    for day, size in enumerate(per_day.tolist()):
        group = np.minimum(rng.zipf(1.3, size) - 1, groups - 1)
        group = (group * 7919 + rng.integers(0, 3, size)) % groups  # spread the heavy ones
        member = np.minimum(rng.zipf(1.2, size) - 1, members - 1)
        member = (member * 104729) % members
        hour = rng.choice(24, size, p=_hour_shares())
        # local (UTC+8) midnight of the day, then the local hour
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
        local_day = (START + timedelta(days=day)).date().isoformat()
        target = folder / f"local_day={local_day}" / "part.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target.with_suffix(".writing"), compression="zstd")
        target.with_suffix(".writing").rename(target)
        written += size


def _only_for(kind: np.ndarray, wanted: str, value: str) -> pa.Array:
    return pa.array(np.where(kind == wanted, value, None), pa.string())


def _hour_shares() -> np.ndarray:
    shares = np.array([1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 8, 8, 9, 8, 7, 7, 7, 8, 9, 12, 14, 12, 6, 3])
    return shares / shares.sum()


def _connect(work: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        config={
            "memory_limit": DUCKDB_MEMORY,
            "temp_directory": str(work / "spill"),
            "preserve_insertion_order": False,
        }
    )


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# --- the three implementations -------------------------------------------------------------

KIND_COLUMNS = {
    "message": "messages",
    "join": "joins",
    "leave": "leaves",
    "red_packet_send": "red_packet_sends",
    "red_packet_grab": "red_packet_grabs",
    "order": "orders",
    "referral": "referrals",
    "content_view": "content_views",
    "content_share": "content_shares",
}


def _windows(as_of: date) -> dict[str, date]:
    recent = as_of - timedelta(days=27)
    return {
        "as_of": as_of,
        "recent": recent,
        "previous": recent - timedelta(days=28),
        "life": as_of - timedelta(days=89),
    }


def _health_rows(figures: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Turn per-group figures into ``HEALTH`` rows with the analytics' own status rules."""
    from qunyun.analytics.group_health import COUNTED, classify, trend

    rows = []
    for row in figures:
        counts = {name: int(row.get(name) or 0) for name in COUNTED}
        status = classify(
            counts["customer_messages"],
            counts["active_days"],
            counts["customer_senders"],
            counts["life_messages"],
        )
        last = row.get("last_customer_message")
        rows.append(
            (
                row["group_id"],
                status,
                counts["customer_messages"],
                counts["active_days"],
                counts["customer_senders"],
                counts["staff_messages"],
                counts["previous_customer_messages"],
                trend(counts["customer_messages"], counts["previous_customer_messages"]),
                last.isoformat() if last else "",
            )
        )
    return sorted(rows)


def raw_sql(
    raw: list[Path], out: Path, work: Path, as_of: date
) -> tuple[pa.Table, list[tuple[Any, ...]]]:
    """Hand-written DuckDB SQL over the raw files: member daily to ``out``, group daily, health."""
    counts = ",\n".join(
        f"count(*) FILTER (WHERE kind = '{kind}') AS {column}"
        for kind, column in KIND_COLUMNS.items()
    )
    window = {name: f"DATE '{day.isoformat()}'" for name, day in _windows(as_of).items()}
    customer = "member_kind <> 'staff' AND messages > 0"
    connection = _connect(work)
    try:
        connection.execute(
            f"""
            CREATE TEMP TABLE member_daily AS
            SELECT CAST(timezone('{ZONE}', ts) AS DATE) AS date,
                   nullif(group_id, '') AS group_id, member_kind, member_id,
                   {counts}
            FROM read_parquet([{", ".join(_quoted(file) for file in raw)}])
            GROUP BY ALL
            """
        )
        connection.execute(
            f"COPY member_daily TO {_quoted(out)} (FORMAT parquet, COMPRESSION zstd)"
        )
        daily = connection.sql(
            """
            SELECT date, group_id,
                   sum(messages) AS messages,
                   count(*) FILTER (WHERE messages > 0) AS active_members,
                   coalesce(sum(messages) FILTER (WHERE member_kind = 'staff'), 0)
                       AS staff_messages,
                   coalesce(sum(messages) FILTER (WHERE member_kind <> 'staff'), 0)
                       AS customer_messages,
                   sum(joins) AS joins,
                   sum(leaves) AS leaves
            FROM member_daily
            WHERE group_id IS NOT NULL
            GROUP BY ALL
            ORDER BY date, group_id
            """
        ).to_arrow_table()
        health = connection.sql(
            f"""
            SELECT group_id,
                   sum(messages) FILTER (WHERE {customer} AND date >= {window["recent"]})
                       AS customer_messages,
                   count(DISTINCT date) FILTER (WHERE {customer} AND date >= {window["recent"]})
                       AS active_days,
                   count(DISTINCT (member_kind, member_id))
                       FILTER (WHERE {customer} AND date >= {window["recent"]})
                       AS customer_senders,
                   sum(messages) FILTER (WHERE member_kind = 'staff'
                                         AND date >= {window["recent"]}) AS staff_messages,
                   sum(messages) FILTER (WHERE {customer} AND date >= {window["previous"]}
                                         AND date < {window["recent"]})
                       AS previous_customer_messages,
                   sum(messages) FILTER (WHERE {customer} AND date >= {window["life"]})
                       AS life_messages,
                   max(date) FILTER (WHERE {customer} AND date >= {window["life"]})
                       AS last_customer_message
            FROM member_daily
            WHERE group_id IS NOT NULL AND date <= {window["as_of"]}
            GROUP BY group_id
            """
        ).to_arrow_table()
    finally:
        connection.close()
    return daily, _health_rows(health.to_pylist())


def with_pandas(
    raw: list[Path], out: Path, work: Path, as_of: date, part_events: int
) -> tuple[pa.Table, list[tuple[Any, ...]]]:
    """Compute the same three analyses with pandas, out of core by a hash of the group id."""
    import pandas as pd

    sources = [pq.ParquetFile(file) for file in raw]
    parts = max(1, math.ceil(sum(source.metadata.num_rows for source in sources) / part_events))
    folder = work / "pandas-parts"
    folder.mkdir(exist_ok=True)
    columns = ["ts", "kind", "group_id", "member_kind", "member_id"]
    writers: dict[int, pq.ParquetWriter] = {}
    batches = (
        batch
        for source in sources
        for batch in source.iter_batches(batch_size=1_000_000, columns=columns)
    )
    for batch in batches:
        frame = batch.to_pandas()
        if parts == 1:
            pieces = [(0, frame)]
        else:
            hashed = pd.util.hash_pandas_object(frame["group_id"], index=False).to_numpy()
            pieces = list(frame.groupby(hashed % parts, sort=False))
        for part, piece in pieces:
            table = pa.Table.from_pandas(piece, preserve_index=False)
            if part not in writers:
                writers[part] = pq.ParquetWriter(folder / f"part-{part}.parquet", table.schema)
            writers[part].write_table(table)
    for writer in writers.values():
        writer.close()
    windows = {name: pd.Timestamp(day) for name, day in _windows(as_of).items()}
    daily_parts = []
    health_figures: list[dict[str, Any]] = []
    member_writer: pq.ParquetWriter | None = None
    for part in sorted(writers):
        frame = pd.read_parquet(folder / f"part-{part}.parquet")
        frame.loc[frame["group_id"] == "", "group_id"] = None
        frame["date"] = frame["ts"].dt.tz_convert(ZONE).dt.tz_localize(None).dt.normalize()
        keys = ["date", "group_id", "member_kind", "member_id"]
        kinds = pd.Categorical(frame["kind"], categories=list(KIND_COLUMNS))
        member_daily = (
            frame.assign(kind=kinds)
            .groupby([*keys, "kind"], dropna=False, observed=True, sort=False)
            .size()
            .unstack("kind", fill_value=0)
            .reindex(columns=kinds.categories, fill_value=0)
        )
        member_daily.columns = list(KIND_COLUMNS.values())
        member_daily = member_daily.reset_index()
        table = pa.Table.from_pandas(member_daily, preserve_index=False)
        table = table.set_column(0, "date", table.column("date").cast(pa.date32()))
        if member_writer is None:
            member_writer = pq.ParquetWriter(out, table.schema, compression="zstd")
        member_writer.write_table(table)
        grouped = member_daily[member_daily["group_id"].notna()].copy()
        is_staff = grouped["member_kind"] == "staff"
        grouped["active_members"] = grouped["messages"] > 0
        grouped["staff_messages"] = grouped["messages"].where(is_staff, 0)
        grouped["customer_messages"] = grouped["messages"].where(~is_staff, 0)
        daily_parts.append(
            grouped.groupby(["date", "group_id"], sort=False)[[*SUMMED]].sum().reset_index()
        )
        window = grouped[grouped["date"] <= windows["as_of"]]
        customer = window[(window["member_kind"] != "staff") & (window["messages"] > 0)]
        recent = customer[customer["date"] >= windows["recent"]]
        life = customer[customer["date"] >= windows["life"]]
        previous = customer[
            (customer["date"] >= windows["previous"]) & (customer["date"] < windows["recent"])
        ]
        staff = window[(window["member_kind"] == "staff") & (window["date"] >= windows["recent"])]
        figures = pd.DataFrame(index=pd.Index(window["group_id"].unique(), name="group_id"))
        figures["customer_messages"] = recent.groupby("group_id")["messages"].sum()
        figures["active_days"] = recent.groupby("group_id")["date"].nunique()
        figures["customer_senders"] = (
            recent.drop_duplicates(["group_id", "member_kind", "member_id"])
            .groupby("group_id")
            .size()
        )
        figures["staff_messages"] = staff.groupby("group_id")["messages"].sum()
        figures["previous_customer_messages"] = previous.groupby("group_id")["messages"].sum()
        figures["life_messages"] = life.groupby("group_id")["messages"].sum()
        figures["last_customer_message"] = life.groupby("group_id")["date"].max()
        figures = figures.reset_index()
        last = figures["last_customer_message"]
        figures["last_customer_message"] = [None if pd.isna(day) else day.date() for day in last]
        health_figures.extend(
            {
                key: (None if value is None or value != value else value)
                for key, value in row.items()
            }
            for row in figures.to_dict("records")
        )
    assert member_writer is not None
    member_writer.close()
    daily = pd.concat(daily_parts).sort_values(["date", "group_id"])
    daily["date"] = daily["date"].dt.date
    daily = daily[HEADER].astype(dict.fromkeys(HEADER[2:], "int64"))
    return pa.Table.from_pandas(daily, preserve_index=False), _health_rows(health_figures)


def from_lake(lake: Any, as_of: date, only_day: bool = False) -> tuple[pa.Table, pa.Table]:
    """Group daily (every day's, or ``as_of``'s only) and group health from the rollups.

    One day's group daily is read from its stored rollup, and health on the lake's last day
    from the figures the last refresh stored; every day's group daily is the export's query.
    """
    from qunyun.analytics.group_daily import day_group_daily, group_daily
    from qunyun.analytics.group_health import group_health_table, stored_group_health
    from qunyun.analytics.lake import open_lake

    daily = day_group_daily(lake, as_of) if only_day else group_daily(open_lake(lake)).to_pyarrow()
    health = stored_group_health(lake, as_of)
    if health is None:
        health = group_health_table(open_lake(lake), as_of)
    return daily, health


def memory_columns(lake: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Load the lake's messages in groups as two arrays: (day, group key) packed, and groups.

    The floor the issue sets the lake against ("the raw memory scan"): the events' dense
    integer columns already in memory, counted in one pass (``memory_scan``).
    """
    keys: list[np.ndarray] = []
    for path in lake.event_files(lake.manifest()):
        table = pq.read_table(path, columns=["day", "kind", "group_key"])
        kind = table.column("kind").combine_chunks()
        if isinstance(kind.type, pa.DictionaryType):
            kind = kind.dictionary_decode()
        wanted = pc.and_(pc.equal(kind, "message"), pc.is_valid(table.column("group_key")))
        chosen = table.filter(wanted)
        day = chosen.column("day").cast(pa.int32()).to_numpy().astype(np.int64)
        keys.append(day << 32 | chosen.column("group_key").to_numpy().astype(np.int64))
    packed = np.concatenate(keys)
    day = (packed >> 32).astype(np.int32)
    group = (packed & 0xFFFFFFFF).astype(np.int32)
    return day - day.min(), group, int(group.max()) + 1


def memory_scan(day: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """Messages per (day, group) from the in-memory columns: one pass, ``np.bincount``."""
    return np.bincount(day * groups + group, minlength=(int(day.max()) + 1) * groups)


def health_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Return a group-health table as sorted ``HEALTH`` rows (dates as YYYY-MM-DD)."""
    columns = table.to_pydict()
    columns["last_customer_message"] = [
        day.isoformat() if day else "" for day in columns["last_customer_message"]
    ]
    return sorted(zip(*columns.values(), strict=True))


# --- checks ----------------------------------------------------------------------------------


def _normalised(table: pa.Table) -> list[tuple[Any, ...]]:
    table = table.select(HEADER)
    columns = [table.column(name).to_pylist() for name in HEADER]
    return sorted(zip(*columns, strict=True))


def _member_daily_digest(connection: duckdb.DuckDBPyConnection, relation: str) -> tuple[Any, ...]:
    columns = ", ".join(["date", "group_id", "member_kind", "member_id", *KIND_COLUMNS.values()])
    row = connection.sql(
        f"SELECT count(*), sum(hash({columns})::HUGEINT) FROM {relation}"
    ).fetchall()[0]
    return tuple(row)


def lake_member_daily_relation(lake: Any) -> str:
    """Return SQL over the lake's member-daily rollup, keys replaced by their ids."""
    from qunyun.events.lake import read_parquet_sql

    manifest = lake.manifest()
    counts = ", ".join(f"r.{column}" for column in KIND_COLUMNS.values())
    return f"""(
        SELECT r.day AS date, g.group_id, m.member_kind, m.member_id, {counts}
        FROM {read_parquet_sql(lake.member_daily_files(manifest))} r
        JOIN {read_parquet_sql(lake.paths(manifest.members))} m ON m.member_key = r.member_key
        LEFT JOIN {read_parquet_sql(lake.paths(manifest.groups))} g ON g.group_key = r.group_key
    )"""


# --- timing ----------------------------------------------------------------------------------


class Clock:
    """Wall and CPU seconds of one measurement (CPU: all threads of this process)."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def cell_of(clock: Clock) -> str:
    return f"{clock.wall:.2f} s ({clock.cpu:.2f} s CPU)"


def best(label: str, run: Callable[[], Any], runs: int) -> tuple[Clock, Any]:
    """Run ``runs`` times; return the clock of the fastest (by wall time) and its result."""
    fastest: Clock | None = None
    result = None
    for _ in range(runs):
        with Clock() as clock:
            result = run()
        if fastest is None or clock.wall < fastest.wall:
            fastest = clock
        print(f"  {label}: {clock.wall:.2f} s wall, {clock.cpu:.2f} s CPU", file=sys.stderr)
    assert fastest is not None
    return fastest, result


def _load() -> str:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


class StepClock:
    """A ``progress`` callback of ``do_import_events`` that records the seconds of each step."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.last = self.started
        self.seconds: dict[str, float] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        from qunyun.events.actions import WRITE_STEPS

        if phase != "write":
            return
        now = time.perf_counter()
        name = "read and validate" if done == 0 else WRITE_STEPS[done - 1]
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.last = now

    def line(self) -> str:
        return ", ".join(f"{name} {seconds:.3f}" for name, seconds in self.seconds.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--groups", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3, help="runs of each recomputation")
    parser.add_argument(
        "--added-days", type=int, default=3, help="last days held out of the lake, then added"
    )
    parser.add_argument(
        "--pandas-part", type=int, default=4_000_000, help="events per pandas part at most"
    )
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas baseline")
    parser.add_argument("--no-sql", action="store_true", help="skip the raw SQL baseline")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the last day added"
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="folder for the data; day files and a lake without the added days left there "
        "by an earlier run of the same size are reused",
    )
    args = parser.parse_args()

    from qunyun.events.actions import do_import_events, do_rebuild_rollups, tenant_lake
    from qunyun.org.models import Tenant

    work = args.work or Path(tempfile.mkdtemp(prefix="qunyun-events-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work}, load {_load()}", file=sys.stderr)
    day_folder = work / "days"
    if not (day_folder / "complete").exists():
        with Clock() as clock:
            generate(day_folder, args.events, args.members, args.groups, args.days, args.seed)
        (day_folder / "complete").write_text("")
        print(f"generated in {clock.wall:.1f} s ({clock.cpu:.1f} s CPU)", file=sys.stderr)
    days = sorted(day_folder.glob("local_day=*"))
    raw = [folder / "part.parquet" for folder in days]
    size = sum(pq.ParquetFile(file).metadata.num_rows for file in raw)
    megabytes = sum(file.stat().st_size for file in raw) / 2**20
    print(f"raw files: {size:,} events in {len(raw)} days, {megabytes:,.0f} MiB", file=sys.stderr)
    tenant = Tenant(slug="bench", name="bench", timezone=ZONE, created_at=START)
    held = args.added_days
    base = work / "lake-base"
    imports: list[Clock] = []
    if not (base / "tenant=bench" / "manifest.json").exists():
        shutil.rmtree(base, ignore_errors=True)
        for file in raw[:-held]:
            steps = StepClock()
            with Clock() as clock:
                do_import_events(tenant, file, root=base, progress=steps)
            imports.append(clock)
            print(
                f"  imported {file.parent.name} in {clock.wall:.2f} s ({clock.cpu:.2f} s CPU; "
                f"{steps.line()}), load {_load()}",
                file=sys.stderr,
            )
        print(
            f"imported {size - sum(_rows(file) for file in raw[-held:]):,} events in "
            f"{len(imports)} daily imports: {sum(c.wall for c in imports):.1f} s wall, "
            f"{sum(c.cpu for c in imports):.1f} s CPU (median day "
            f"{statistics.median(c.wall for c in imports):.2f} s)",
            file=sys.stderr,
        )
    # the lake's files are never changed in place (new files, renames, a replaced manifest),
    # so a copy of hard links starts every run from the same lake
    root = work / "lake"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(base, root, copy_function=os.link)
    lake = tenant_lake(tenant, root)
    last_day = date.fromisoformat(days[-1].name.split("=")[1])

    # adding a day: its import (which refreshes that day's rollups), that day's group daily
    # rows and group health on that day (the earlier days' rollups stay as they are)
    added: list[tuple[Clock, Clock, int]] = []
    for number, file in enumerate(raw[-held:], start=1):
        as_of = date.fromisoformat(file.parent.name.split("=")[1])
        steps = StepClock()
        profiler = cProfile.Profile() if args.profile and number == held else None
        if profiler is not None:
            profiler.enable()
        with Clock() as importing:
            do_import_events(tenant, file, root=root, progress=steps)
        with Clock() as reading:
            from_lake(lake, as_of, only_day=True)
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        added.append((importing, reading, _rows(file)))
        print(
            f"  added {as_of} ({_rows(file):,} events): import {importing.wall:.2f} s "
            f"({importing.cpu:.2f} s CPU; {steps.line()}), its group daily + health "
            f"{reading.wall:.2f} s ({reading.cpu:.2f} s CPU), load {_load()}",
            file=sys.stderr,
        )

    def refresh() -> Any:
        do_rebuild_rollups(tenant, root=root, days=[last_day.isoformat()])
        return from_lake(lake, last_day, only_day=True)

    def day_rollups() -> Any:
        return do_rebuild_rollups(tenant, root=root, days=[last_day.isoformat()])

    def all_rollups() -> Any:
        return do_rebuild_rollups(tenant, root=root)

    def recompute() -> Any:
        do_rebuild_rollups(tenant, root=root)
        return from_lake(lake, last_day)

    print(f"the lake, load {_load()}", file=sys.stderr)
    refreshed, _ = best(
        "refresh of the day: its rollups + group daily + group health", refresh, args.runs
    )
    full, (ours, our_health_table) = best("full recomputation from the lake", recompute, args.runs)
    our_health = health_rows(our_health_table)
    one_day, _ = best("the rollups of the day alone", day_rollups, args.runs)
    every_day, _ = best("the rollups of every day alone", all_rollups, args.runs)
    lake_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    scan_day, scan_group, scan_groups = memory_columns(lake)
    scanned, counts = best(
        f"raw memory scan: messages per day and group, {len(scan_day):,} in memory",
        functools.partial(memory_scan, scan_day, scan_group, scan_groups),
        max(args.runs, 3),
    )
    assert int(counts.sum()) == int(pc.sum(ours.column("messages")).as_py()), (
        "memory scan: messages disagree with group daily"
    )
    del scan_day, scan_group, counts
    connection = _connect(work)
    by_sql: Clock | None = None
    if not args.no_sql:
        print(f"raw SQL, load {_load()}", file=sys.stderr)
        raw_member_daily = work / "raw-member-daily.parquet"
        by_sql, (sql_daily, sql_health) = best(
            "hand-written DuckDB SQL over the raw files",
            lambda: raw_sql(raw, raw_member_daily, work, last_day),
            args.runs,
        )
        expected = _normalised(sql_daily)
        assert _normalised(ours) == expected, "group daily: lake and raw SQL disagree"
        assert our_health == sql_health, "group health: lake and raw SQL disagree"
        digest = _member_daily_digest(connection, f"read_parquet({_quoted(raw_member_daily)})")
        assert _member_daily_digest(connection, lake_member_daily_relation(lake)) == digest, (
            "member daily: lake and raw SQL disagree"
        )
        print(
            f"member daily {digest[0]:,} rows, group daily {len(expected):,} rows, "
            f"group health {len(sql_health):,} groups: lake and raw SQL agree",
            file=sys.stderr,
        )
    by_pandas: Clock | None = None
    if not args.no_pandas:
        print(f"pandas, load {_load()}", file=sys.stderr)
        pandas_member_daily = work / "pandas-member-daily.parquet"
        by_pandas, (pd_daily, pd_health) = best(
            "pandas over the raw files",
            lambda: with_pandas(raw, pandas_member_daily, work, last_day, args.pandas_part),
            1,
        )
        assert _normalised(pd_daily) == _normalised(ours), "group daily: pandas and lake disagree"
        assert pd_health == our_health, "group health: pandas and lake disagree"
        pandas_digest = _member_daily_digest(
            connection, f"read_parquet({_quoted(pandas_member_daily)})"
        )
        lake_digest = _member_daily_digest(connection, lake_member_daily_relation(lake))
        assert pandas_digest == lake_digest, "member daily: pandas and lake disagree"
    connection.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"done, load {_load()}; the lake's peak {lake_peak:,.0f} MiB (before the memory "
        f"scan and the baselines), raw memory scan {cell_of(scanned)}",
        file=sys.stderr,
    )

    cell = cell_of

    def median_cell(walls: list[float], cpus: list[float]) -> str:
        return f"{statistics.median(walls):.2f} s ({statistics.median(cpus):.2f} s CPU)"

    import_walls = [importing.wall for importing, _, _ in added]
    import_cpus = [importing.cpu for importing, _, _ in added]
    add_walls = [importing.wall + reading.wall for importing, reading, _ in added]
    add_cpus = [importing.cpu + reading.cpu for importing, reading, _ in added]
    add_wall = statistics.median(add_walls)
    add_cpu = statistics.median(add_cpus)
    baselines = []
    for name, baseline in (("raw SQL", by_sql), ("pandas", by_pandas)):
        if baseline is not None:
            baselines.append(f"{name} {cell(baseline)}, {baseline.wall / full.wall:.1f}×")
    print(
        f"| {datetime.now(UTC):%Y-%m-%d} | {size:,} | {args.groups:,} · {args.members:,} · "
        f"{args.days} | **{cell(full)}** | {'; '.join(baselines) or 'n/a'} | "
        f"{cell(refreshed)}, 1/{full.wall / refreshed.wall:.0f} "
        f"(CPU 1/{full.cpu / refreshed.cpu:.0f}) | "
        f"{median_cell(add_walls, add_cpus)}, 1/{full.wall / add_wall:.0f} "
        f"(CPU 1/{full.cpu / add_cpu:.0f}); import alone {median_cell(import_walls, import_cpus)} | "
        f"{cell(one_day)} vs {cell(every_day)}, 1/{every_day.wall / one_day.wall:.0f} | "
        f"{lake_peak:,.0f} MiB (whole run {peak:,.0f} MiB) | {cell(scanned)} |"
    )
    if imports:
        total = sum(clock.cpu for clock in imports)
        print(
            f"import of every day {sum(clock.wall for clock in imports):.1f} s "
            f"({total:.1f} s CPU); a day's import 1/{total / statistics.median(import_cpus):.0f} "
            "of it (CPU)"
        )


def _rows(file: Path) -> int:
    return int(pq.ParquetFile(file).metadata.num_rows)


if __name__ == "__main__":
    main()
