"""Benchmark: `plan` + `plan apply` end to end on SQLite for a brand of N stores.

Generates the demo brand (N stores, reps one per 250 stores, consumers 0), imports it, then
times computing the plan of all four matrices and applying it (every group created, every
membership written), and reports the process's peak memory.

    .venv/bin/python benchmarks/plan_apply.py --stores 2000000
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=2_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qunyun-plan-"))
    os.environ["QUNYUN_HOME"] = str(work)
    os.environ.pop("QUNYUN_DATABASE_URL", None)

    from qunyun.channel.imports import do_import
    from qunyun.core.db import get_engine, unit_of_work
    from qunyun.demo.generator import generate
    from qunyun.groups.plans import do_apply_plan, do_compute_plan
    from qunyun.org.actions import do_create_tenant

    files = generate(work / "files", stores=args.stores, consumers=0)
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
    imported = time.perf_counter() - start
    print(f"imported {args.stores:,} stores in {imported:.1f} s", file=sys.stderr)

    start = time.perf_counter()
    with unit_of_work(engine) as session:
        summary = do_compute_plan(session, tenant, "bench")
    planned = time.perf_counter() - start
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        do_apply_plan(session, tenant, "bench")
    applied = time.perf_counter() - start
    totals = summary.totals()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "| stores | groups created | memberships written | plan | apply | plan + apply | peak memory |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.stores:,} | {totals['groups_created']:,} | "
        f"{totals['members_added'] + totals['staff_seats_added']:,} | {planned:.1f} s | "
        f"{applied:.1f} s | {planned + applied:.1f} s | {peak_mib:,.0f} MiB |"
    )


if __name__ == "__main__":
    main()
