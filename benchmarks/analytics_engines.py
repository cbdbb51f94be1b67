"""Benchmark: the same analyses on DuckDB and on PySpark (local mode) over the same lake.

Generates N events with the group-daily benchmark's generator (heavy-tailed groups and
members, 10% staff senders), imports them into a lake, then runs group daily, member levels,
group health, the funnel, the cohorts and the reach on each engine, ``--runs`` times each, and
checks that both engines give the same rows. Spark's start (the JVM and the session, once per
process) is timed apart. Prints per analysis the median of each engine and the ratio, and a
Markdown row for docs/benchmarks.md.

    .venv/bin/python benchmarks/analytics_engines.py --events 1000000 --runs 3

Spark takes ``QUNYUN_SPARK_MASTER`` (default ``local[*]``) and ``QUNYUN_SPARK_CONF``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from events_group_daily import START, generate


def analyses(as_of: date) -> dict[str, Callable[[Any], list[Any]]]:
    from qunyun.analytics.funnel import cohort_rows, funnel_rows
    from qunyun.analytics.group_daily import group_daily_rows
    from qunyun.analytics.group_health import group_health
    from qunyun.analytics.member_levels import member_level_rows
    from qunyun.analytics.reach import reach, reach_rows

    return {
        "group daily": lambda lake: list(group_daily_rows(lake)),
        "member levels": lambda lake: list(member_level_rows(lake, as_of)),
        "group health": lambda lake: [row.row() for row in group_health(lake, as_of)],
        "funnel": lambda lake: funnel_rows(lake, as_of, {}),
        "cohorts": lambda lake: list(cohort_rows(lake, as_of)),
        "reach": lambda lake: reach_rows(reach(lake, as_of, {})),
    }


def run_engine(
    lake: Any, engine: str, as_of: date, runs: int
) -> tuple[dict[str, float], dict[str, list[Any]]]:
    from qunyun.analytics.lake import open_lake

    times: dict[str, list[float]] = {}
    results: dict[str, list[Any]] = {}
    for _ in range(runs):
        tables = open_lake(lake, engine=engine)
        for name, analysis in analyses(as_of).items():
            start = time.perf_counter()
            results[name] = analysis(tables)
            times.setdefault(name, []).append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from qunyun.analytics.engines import spark_session
    from qunyun.analytics.lake import open_lake
    from qunyun.analytics.member_levels import latest_day
    from qunyun.events.actions import do_import_events, tenant_lake
    from qunyun.org.models import Tenant

    work = Path(tempfile.mkdtemp(prefix="qunyun-engines-"))
    raw = work / "events.parquet"
    generate(raw, args.events, args.members, args.groups, args.days, args.seed)
    tenant = Tenant(slug="bench", name="bench", timezone="Asia/Shanghai", created_at=START)
    do_import_events(tenant, raw, root=work / "lake")
    lake = tenant_lake(tenant, work / "lake")
    as_of = latest_day(open_lake(lake, engine="duckdb"))
    assert as_of is not None
    print(f"lake of {args.events:,} events ready; load {os.getloadavg()}", file=sys.stderr)

    on_duckdb, duckdb_rows = run_engine(lake, "duckdb", as_of, args.runs)
    start = time.perf_counter()
    spark_session()
    spark_start = time.perf_counter() - start
    on_spark, spark_rows = run_engine(lake, "pyspark", as_of, args.runs)
    for name in duckdb_rows:
        assert spark_rows[name] == duckdb_rows[name], f"{name}: Spark and DuckDB disagree"

    print(f"Spark start (JVM and session): {spark_start:.1f} s", file=sys.stderr)
    print("| analysis | rows | DuckDB | PySpark | PySpark / DuckDB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds in on_duckdb.items():
        print(
            f"| {name} | {len(duckdb_rows[name]):,} | {seconds:.2f} s | {on_spark[name]:.2f} s "
            f"| {on_spark[name] / seconds:.0f}× |"
        )
    total_duckdb, total_spark = sum(on_duckdb.values()), sum(on_spark.values())
    print(
        f"| all six | | **{total_duckdb:.2f} s** | **{total_spark:.2f} s** "
        f"| **{total_spark / total_duckdb:.0f}×** |"
    )
    print(
        f"{datetime.now(UTC):%Y-%m-%d}, {args.events:,} events, Spark start {spark_start:.1f} s, "
        f"load average {' '.join(f'{value:.1f}' for value in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
