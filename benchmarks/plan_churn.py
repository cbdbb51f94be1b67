"""Benchmark: stability of the store-matrix re-plan after 1% churn.

Plans N stores freshly, then churns 1% of them (a quarter each: new, closed, moved to another
rep, attributes changed) and re-plans against the groups of the first plan. Prints how many
stores that did not change still moved (target: at most 1% of all stores) and both timings.

    .venv/bin/python benchmarks/plan_churn.py --stores 200000 --reps 1000
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

from qunyun.groups.planner import (
    GROWTH_ORDER,
    TIER_ORDER,
    TYPE_ORDER,
    CurrentGroup,
    StoreFacts,
    plan_store_groups,
    replan_store_groups,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    reps = [f"R{number:05d}" for number in range(args.reps)]
    weights = [rng.lognormvariate(0, 0.6) for _ in reps]

    def store(number: int) -> StoreFacts:
        return StoreFacts(
            f"S{number:08d}",
            rng.choices(reps, weights)[0],
            rng.choices(TYPE_ORDER, (40, 15, 20, 12, 6, 3, 4))[0],
            rng.choice(TIER_ORDER),
            rng.choices((1, 2, 3, 4, 5), (10, 20, 35, 25, 10))[0],
            rng.choices(GROWTH_ORDER, (25, 55, 20))[0],
        )

    before = [store(number) for number in range(args.stores)]
    start = time.perf_counter()
    first = plan_store_groups(before)
    plan_seconds = time.perf_counter() - start
    current = [
        CurrentGroup(f"{rep}-G{number:02d}", rep, tuple(s.store_id for s in group))
        for rep, groups in first.items()
        for number, group in enumerate(groups, start=1)
    ]
    quarter = args.stores // 400
    churned = rng.sample(before, 3 * quarter)
    closed = {s.store_id for s in churned[:quarter]}
    moved = {s.store_id: rng.choice(reps) for s in churned[quarter : 2 * quarter]}
    changed = {s.store_id for s in churned[2 * quarter :]}
    after = []
    for old in before:
        if old.store_id in closed:
            continue
        new = old._replace(rep_id=moved.get(old.store_id, old.rep_id))
        if old.store_id in changed:
            new = new._replace(closeness=6 - old.closeness)
        after.append(new)
    after += [store(number) for number in range(args.stores, args.stores + quarter)]
    counter = itertools.count(1)
    start = time.perf_counter()
    plan = replan_store_groups(after, current, lambda rep: f"{rep}-N{next(counter):04d}")
    replan_seconds = time.perf_counter() - start

    group_before = {sid: group.group_id for group in current for sid in group.store_ids}
    group_after = {sid: gid for gid, (_, members) in plan.groups.items() for sid in members}
    untouched = set(group_before) - closed - set(moved) - changed
    moved_anyway = sum(1 for sid in untouched if group_after[sid] != group_before[sid])
    print(
        "| stores | reps | groups | churned | unchanged stores moved | share of all stores | "
        "fresh plan | re-plan |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.stores:,} | {args.reps:,} | {len(current):,} | {4 * quarter:,} | "
        f"{moved_anyway:,} | {moved_anyway / args.stores:.3%} | {plan_seconds:.1f} s | "
        f"{replan_seconds:.1f} s |"
    )


if __name__ == "__main__":
    main()
