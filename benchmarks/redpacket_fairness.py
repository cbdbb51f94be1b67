"""Fairness of red-packet splits: per-position distributions and best luck, fair vs double mean.

Simulates P packets of T fen in N shares with each method and reports, per position, the mean,
the standard deviation and the best-luck share, plus the smallest two-sample KS p-value over
all pairs of positions and the chi-square p-value of best luck against equal shares.

    .venv/bin/python benchmarks/redpacket_fairness.py --packets 1000000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from qunyun.activation.split import (
    SplitMethod,
    best_luck_counts,
    chi_square_uniform,
    ks_two_sample,
    simulate_matrix,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--total-fen", type=int, default=1000)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    print(
        f"{args.packets:,} packets of {args.total_fen} fen in {args.count} shares, seed {args.seed}"
    )
    for method in SplitMethod:
        started = time.perf_counter()
        matrix = simulate_matrix(args.total_fen, args.count, args.packets, args.seed, method)
        elapsed = time.perf_counter() - started
        best = best_luck_counts(matrix, args.seed)
        ks = [
            ks_two_sample(matrix[:, first], matrix[:, second]).p_value
            for first in range(args.count)
            for second in range(first + 1, args.count)
        ]
        print(f"\n{method.value}: simulated in {elapsed:.1f} s")
        print("position  mean    std     best-luck")
        for position in range(args.count):
            print(
                f"{position + 1:>8}  {matrix[:, position].mean():6.2f}  "
                f"{matrix[:, position].std():6.2f}  {best[position] / args.packets:8.4f}"
            )
        print(
            f"smallest pairwise KS p-value: {min(ks):.3g} (pairs below 0.001: "
            f"{sum(p < 0.001 for p in ks)} of {len(ks)})"
        )
        print(f"best luck vs equal shares: chi-square p = {chi_square_uniform(best).p_value:.3g}")
        assert np.all(matrix.sum(axis=1) == args.total_fen)


if __name__ == "__main__":
    main()
