"""Benchmark: homogeneity of the store-matrix planner against the naive baseline.

Reads the demo brand's stores (generated, not imported), plans the store groups, and prints
the mean pairwise dissimilarity inside groups for the planner and for the baseline "sort each
territory by type, tier, closeness, growth and cut into chunks of 200" — the same number of
groups — with the planning time, both measured in this process.

    .venv/bin/python benchmarks/plan_homogeneity.py --stores 15000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from qunyun.demo.generator import generate, planner_stores
from qunyun.groups.planner import (
    PlannerSettings,
    baseline_groups,
    plan_score,
    plan_store_groups,
    territories,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=15_000)
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()

    files = generate(Path(tempfile.mkdtemp()), stores=args.stores, consumers=0, seed=args.seed)
    stores = planner_stores(files.stores)
    rules = PlannerSettings()
    sizes = sorted(len(members) for members in territories(stores).values())
    start = time.perf_counter()
    plan = plan_store_groups(stores, rules)
    seconds = time.perf_counter() - start
    planned = [group for groups in plan.values() for group in groups]
    baseline = baseline_groups(stores, rules)
    ours, theirs = plan_score(planned), plan_score(baseline)
    print(
        f"active stores {len(stores):,}; territories {len(sizes)} "
        f"(sizes {sizes[0]}–{sizes[-1]}, median {statistics.median(sizes):.0f}); "
        f"groups {len(planned)} (baseline {len(baseline)})"
    )
    print(
        "| stores | territories | groups | planner score | baseline score | planner ÷ baseline | planning time |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {len(stores):,} | {len(sizes)} | {len(planned)} | {ours:.4f} | {theirs:.4f} | "
        f"{ours / theirs:.3f} | {seconds:.1f} s |"
    )


if __name__ == "__main__":
    main()
