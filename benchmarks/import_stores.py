"""Benchmark: import N terminal stores from CSV on the embedded SQLite.

Generates the demo brand with N stores, imports its staff and distributors, then times
(1) the first import of the stores file into an empty tenant, (2) re-importing the same
file (idempotent: nothing changes), and two baselines over the same file in the same
process: reading it with ``csv.reader`` alone, and inserting the parsed rows with raw
``sqlite3.executemany`` into an equivalent table (no validation). Prints a Markdown table.
With ``--departed F`` a share F of the reps then leave (no handover yet) and the same file is
imported once more: every row of theirs is kept with its departed rep.

    .venv/bin/python benchmarks/import_stores.py --stores 1000000 --runs 1 [--departed 0.1]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def _timed(action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=1_000_000)
    parser.add_argument(
        "--runs", type=int, default=1, help="first imports, each into a fresh database"
    )
    parser.add_argument(
        "--departed",
        type=float,
        default=0.0,
        help="share of the reps who leave before one more re-import (0 = no such import)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qunyun-bench-"))
    os.environ["QUNYUN_HOME"] = str(work / "home")
    os.environ.pop("QUNYUN_DATABASE_URL", None)

    from qunyun.channel.imports import do_import
    from qunyun.core import settings
    from qunyun.core.db import engine_for, migrate, unit_of_work
    from qunyun.demo.generator import generate
    from qunyun.org.actions import do_create_tenant

    start = time.perf_counter()
    files = generate(work / "files", stores=args.stores, consumers=0)
    generate_seconds = time.perf_counter() - start
    size_mb = files.stores.stat().st_size / 1e6
    print(
        f"generated {args.stores:,} stores ({size_mb:.0f} MB) in {generate_seconds:.1f} s",
        file=sys.stderr,
    )

    first: list[float] = []
    reimport: list[float] = []
    for run in range(args.runs):
        home = work / f"home-{run}"
        os.environ["QUNYUN_HOME"] = str(home)
        settings.get_settings.cache_clear()
        engine = engine_for(settings.get_settings().resolved_database_url)
        migrate(engine)
        with unit_of_work(engine) as session:
            tenant = do_create_tenant(session, "bench", "bench")
        for entity, path in (("staff", files.staff), ("distributors", files.distributors)):
            with unit_of_work(engine) as session:
                do_import(session, tenant, entity, path)

        phases: dict[str, float] = {}

        def mark(phase: str, done: int, total: int, phases: dict[str, float] = phases) -> None:
            phases.setdefault(phase, time.perf_counter())

        for label, results in (("first import", first), ("re-import", reimport)):
            phases.clear()
            start = time.perf_counter()
            with unit_of_work(engine) as session:
                report = do_import(session, tenant, "stores", files.stores, progress=mark)
            results.append(time.perf_counter() - start)
            assert report.rejected_rows == 0, report.errors[:3]
            read = phases["write"] - phases["read"]
            print(
                f"run {run + 1} {label}: {results[-1]:.1f} s (read and validate {read:.1f} s, "
                f"compare and write {results[-1] - read:.1f} s)",
                file=sys.stderr,
            )

    departed_seconds: float | None = None
    if args.departed > 0:
        departed_seconds = _reimport_after_leaving(engine, tenant, files.stores, args.departed)

    def read_only() -> None:
        with files.stores.open(encoding="utf-8", newline="") as handle:
            for _ in csv.reader(handle):
                pass

    def raw_insert() -> None:
        connection = sqlite3.connect(work / "raw.db")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        with files.stores.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            columns = ", ".join(f'"{name}"' for name in header)
            connection.execute(f"CREATE TABLE stores ({columns}, PRIMARY KEY (store_id))")
            marks = ", ".join("?" * len(header))
            connection.executemany(f"INSERT INTO stores VALUES ({marks})", reader)
        connection.commit()
        connection.close()

    read_seconds = _timed(read_only)
    raw_seconds = _timed(raw_insert)
    median_first = statistics.median(first)
    median_reimport = statistics.median(reimport)
    rate = args.stores / median_first
    print(
        "\n| date | machine | stores | file | runs | first import (median) | rows/s | re-import "
        "(median) | csv.reader only | raw sqlite3 insert | first ÷ raw insert |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {datetime.now(UTC):%Y-%m-%d} | {os.cpu_count()} cores, Python {platform.python_version()} | "
        f"{args.stores:,} | {size_mb:.0f} MB | {args.runs} | {median_first:.1f} s | {rate:,.0f} | "
        f"{median_reimport:.1f} s | {read_seconds:.1f} s | {raw_seconds:.1f} s | "
        f"{median_first / raw_seconds:.1f}× |"
    )
    if departed_seconds is not None:
        print(
            f"\nre-import after {args.departed:.0%} of the reps left (last run): "
            f"{departed_seconds:.1f} s"
        )


def _reimport_after_leaving(engine, tenant, stores: Path, share: float) -> float:  # type: ignore[no-untyped-def]
    """Let every n-th rep leave, re-import ``stores``; return the seconds of the import."""
    from sqlalchemy import select, update

    from qunyun.channel.imports import do_import
    from qunyun.core.db import unit_of_work
    from qunyun.org.models import Staff, StaffRole

    with unit_of_work(engine) as session:
        reps = list(
            session.scalars(
                select(Staff.staff_id)
                .where(Staff.tenant_id == tenant.id, Staff.role == StaffRole.REP)
                .order_by(Staff.staff_id)
            )
        )
        leaving = reps[:: max(1, round(1 / share))]
        session.execute(
            update(Staff)
            .where(Staff.tenant_id == tenant.id, Staff.staff_id.in_(leaving))
            .values(left_at=datetime.now(UTC))
        )
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        report = do_import(session, tenant, "stores", stores)
    seconds = time.perf_counter() - start
    assert report.rejected_rows == 0, report.errors[:3]
    assert (report.inserted, report.updated) == (0, 0)
    kept = sum(person.stores for person in report.awaiting_handover)
    print(
        f"re-import after {len(leaving):,} of {len(reps):,} reps left: {seconds:.1f} s "
        f"({kept:,} stores kept with them, awaiting handover)",
        file=sys.stderr,
    )
    return seconds


if __name__ == "__main__":
    main()
