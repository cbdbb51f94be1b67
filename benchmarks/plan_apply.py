"""Benchmark: `plan` + `plan apply` end to end on SQLite, then a re-plan after 1% churn.

Generates the demo brand (N stores, R reps — one per 200 stores unless given —, consumers 0),
imports it, then times computing the plan of all four matrices and applying it (every group
created, every membership written). Then 1% of the stores churn through an ordinary store
import (a quarter each: new, closed, moved to another rep, closeness changed) and `plan` +
`plan apply` run again. Prints the phases of each plan (reading the channel, the planning
computation, writing the revision), how many stores that did not change still moved, and the
process's peak memory — after the first plan and apply, after the churn's import and at the
end (the peak only grows: the last is the whole run's, the first the fresh plan's own).

    .venv/bin/python benchmarks/plan_apply.py --stores 2000000

``--cache DIR`` keeps the imported database of a size in DIR and starts from a copy of it on
the next run (the import of 2,000,000 stores takes minutes; the timed part is the same).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=2_000_000)
    parser.add_argument("--reps", type=int, default=None, help="default: one per 200 stores")
    parser.add_argument("--cache", type=Path, default=None, help="keep imported databases here")
    parser.add_argument("--seed", type=int, default=7, help="seed of the churn")
    args = parser.parse_args()
    reps = args.reps or max(8, args.stores // 200)
    work = Path(tempfile.mkdtemp(prefix="qunyun-plan-"))
    os.environ["QUNYUN_HOME"] = str(work)
    os.environ.pop("QUNYUN_DATABASE_URL", None)

    from sqlalchemy import select

    from qunyun.core.db import get_engine, unit_of_work
    from qunyun.groups.plans import PlanSummary, do_apply_plan, do_compute_plan
    from qunyun.org.models import Tenant

    stores_csv = _prepare(work, args.stores, reps, args.cache)
    engine = get_engine()
    with unit_of_work(engine) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "bench")).one()
    print(f"load before: {_load()}", file=sys.stderr)

    def plan_and_apply(label: str) -> tuple[PlanSummary, float, float]:
        start = time.perf_counter()
        with unit_of_work(engine) as session:
            summary = do_compute_plan(session, tenant, "bench")
        planned = time.perf_counter() - start
        start = time.perf_counter()
        with unit_of_work(engine) as session:
            do_apply_plan(session, tenant, "bench")
        applied = time.perf_counter() - start
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in summary.seconds.items())
        print(f"{label}: plan {planned:.1f} s ({phases}), apply {applied:.1f} s", file=sys.stderr)
        return summary, planned, applied

    first, planned, applied = plan_and_apply("fresh")
    print(f"peak after the fresh plan and apply: {_peak_mib():,.0f} MiB", file=sys.stderr)
    before = _store_groups(engine, tenant.id)
    churn_start = time.perf_counter()
    unchanged = _churn(work, tenant, stores_csv, args.seed)
    churned_in = time.perf_counter() - churn_start
    print(
        f"churn import {churned_in:.1f} s, peak after it {_peak_mib():,.0f} MiB; load: {_load()}",
        file=sys.stderr,
    )
    second, replanned, reapplied = plan_and_apply("after 1% churn")
    after = _store_groups(engine, tenant.id)
    moved = sum(1 for sid in unchanged if before.get(sid) != after.get(sid))
    peak_mib = _peak_mib()
    totals = first.totals()
    print(f"load after: {_load()}", file=sys.stderr)
    print(
        "| stores | reps | groups created | memberships written | plan (of it: planning) "
        "| apply | plan + apply | re-plan after 1% churn (of it: planning) | apply after churn "
        "| unchanged stores moved | peak memory |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.stores:,} | {reps:,} | {totals['groups_created']:,} | "
        f"{totals['members_added'] + totals['staff_seats_added']:,} | "
        f"{planned:.1f} s ({first.seconds['compute']:.1f} s) | {applied:.1f} s | "
        f"{planned + applied:.1f} s | {replanned:.1f} s ({second.seconds['compute']:.1f} s) | "
        f"{reapplied:.1f} s | {moved:,} ({moved / args.stores:.3%}) | {peak_mib:,.0f} MiB |"
    )


def _peak_mib() -> float:
    """Return the process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prepare(work: Path, stores: int, reps: int, cache: Path | None) -> Path:
    """Return the stores file of a freshly imported tenant ``bench`` in ``work``."""
    from qunyun.channel.imports import do_import
    from qunyun.core.db import engine_for, get_engine, unit_of_work
    from qunyun.core.settings import get_settings
    from qunyun.demo.generator import generate
    from qunyun.org.actions import do_create_tenant

    database = Path(get_settings().resolved_database_url.split("///", 1)[1])
    kept = cache / f"plan-{stores}-{reps}" if cache else None
    if kept and (kept / "qunyun.db").exists():
        shutil.copy(kept / "qunyun.db", database)
        return kept / "stores.csv"
    files = generate(work / "files", stores=stores, consumers=0, reps=reps)
    engine = get_engine()
    with unit_of_work(engine) as session:
        tenant = do_create_tenant(session, "bench", "bench")
    start = time.perf_counter()
    for entity, path in (
        ("staff", files.staff),
        ("distributors", files.distributors),
        ("stores", files.stores),
    ):
        with unit_of_work(engine) as session:
            do_import(session, tenant, entity, path)
    print(f"imported {stores:,} stores in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if kept is None:
        return files.stores
    kept.mkdir(parents=True, exist_ok=True)
    engine_for(get_settings().resolved_database_url).dispose()
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(database, kept / "qunyun.db")
    shutil.copy(files.stores, kept / "stores.csv")
    return kept / "stores.csv"


def _churn(work: Path, tenant: Any, stores_csv: Path, seed: int) -> list[str]:
    """Churn 1% of the stores through a store import; return the ids of the stores untouched."""
    from qunyun.channel.imports import do_import
    from qunyun.core.db import get_engine, unit_of_work

    with stores_csv.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or ())
        rows = [row for row in reader if row["status"] in ("", "active", "营业")]
    rng = random.Random(seed)
    reps = sorted({row["rep_id"] for row in rows})
    quarter = len(rows) // 400
    picked = rng.sample(range(len(rows)), 3 * quarter)
    changed: list[dict[str, str]] = []
    for position, index in enumerate(picked):
        row = dict(rows[index])
        if position < quarter:
            row["status"] = "closed"
        elif position < 2 * quarter:
            row["rep_id"] = rng.choice([rep for rep in reps if rep != row["rep_id"]])
        else:
            row["closeness"] = str(6 - int(row["closeness"] or 3))
        changed.append(row)
    for number in range(quarter):
        row = dict(rows[rng.randrange(len(rows))])
        row["store_id"] = f"NEW{number:07d}"
        changed.append(row)
    path = work / "churn.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(changed)
    with unit_of_work(get_engine()) as session:
        do_import(session, tenant, "stores", path)
    touched = {rows[index]["store_id"] for index in picked}
    return [row["store_id"] for row in rows if row["store_id"] not in touched]


def _store_groups(engine: Any, tenant_id: int) -> dict[str, str]:
    """Return each store's open store group."""
    with engine.connect() as connection:
        return dict(
            connection.exec_driver_sql(
                "SELECT m.member_id, m.group_id FROM memberships m JOIN groups g "
                "ON g.tenant_id = m.tenant_id AND g.group_id = m.group_id "
                "WHERE m.tenant_id = ? AND m.left_at IS NULL AND g.archived_at IS NULL "
                "AND m.member_kind = 'store' AND g.matrix = 'store'",
                (tenant_id,),
            ).fetchall()
        )


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
