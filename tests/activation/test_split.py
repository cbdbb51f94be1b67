from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from qunyun.activation.split import (
    SplitMethod,
    best_luck_counts,
    chi_square_uniform,
    double_mean_split,
    fair_split,
    ks_two_sample,
    simulate_matrix,
)
from tests.conftest import Cli

PACKETS = 1_000_000
"""The issue's fairness test: over a million simulated packets (about 35 s for both methods)."""


@given(
    total=st.integers(1, 100_000),
    count=st.integers(1, 200),
    seed=st.integers(0, 2**32),
    method=st.sampled_from(list(SplitMethod)),
)
def test_every_share_is_at_least_one_fen_and_the_shares_sum_to_the_total(
    total: int, count: int, seed: int, method: SplitMethod
) -> None:
    count = min(count, total)
    split = fair_split if method is SplitMethod.FAIR else double_mean_split

    shares = split(total, count, random.Random(seed))

    assert len(shares) == count
    assert min(shares) >= 1
    assert sum(shares) == total


def test_every_split_of_a_small_packet_is_equally_likely() -> None:
    # 5 fen for 3 people: the 6 splits (3,1,1) (1,3,1) (1,1,3) (2,2,1) (2,1,2) (1,2,2)
    rng = random.Random(11)

    counts = np.unique([fair_split(5, 3, rng) for _ in range(60_000)], axis=0, return_counts=True)

    assert len(counts[0]) == 6
    assert chi_square_uniform(counts[1]).p_value > 0.001


def _pairwise_ks_minimum(matrix: np.ndarray) -> float:
    positions = matrix.shape[1]
    return min(
        ks_two_sample(matrix[:, first], matrix[:, second]).p_value
        for first in range(positions)
        for second in range(first + 1, positions)
    )


def test_the_fair_split_gives_every_position_the_same_distribution() -> None:
    matrix = simulate_matrix(1000, 10, PACKETS, 20261123, SplitMethod.FAIR)

    means = matrix.mean(axis=0)
    assert np.abs(means - 100).max() < 0.5  # five standard errors of a position's mean
    assert _pairwise_ks_minimum(matrix) > 0.001
    assert chi_square_uniform(best_luck_counts(matrix, 1)).p_value > 0.001


def test_the_double_mean_method_fails_the_same_test() -> None:
    matrix = simulate_matrix(1000, 10, PACKETS, 20261123, SplitMethod.DOUBLE_MEAN)

    best = best_luck_counts(matrix, 1)
    assert _pairwise_ks_minimum(matrix) < 1e-12
    assert chi_square_uniform(best).p_value < 1e-12
    # the last grabbers win best luck more often and see the widest spread
    assert best[-1] > 1.3 * best.min()
    assert matrix[:, -1].std() > 1.25 * matrix[:, 0].std()


def test_the_ks_statistic_and_p_value_are_the_textbook_ones() -> None:
    result = ks_two_sample([1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8])

    # the largest gap of the distribution functions is at 5: 5/5 against 3/6
    effective = math.sqrt(5 * 6 / 11)
    x = (effective + 0.12 + 0.11 / effective) * 0.5
    series = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 200))
    assert result.statistic == 0.5
    assert abs(result.p_value - series) < 1e-9


def test_simulate_writes_one_row_per_share_in_grab_order(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "preview.csv"

    result = cli(
        "redpacket", "simulate", "--total-fen", "1000", "--count", "10", "--packets", "50",
        "--seed", "7", "--out", out,
    )  # fmt: skip
    rows = list(csv.reader(out.open(encoding="utf-8")))

    assert rows[0] == ["packet", "position", "amount_fen"]
    assert len(rows) == 1 + 50 * 10
    assert [row[:2] for row in rows[1:11]] == [["1", str(position)] for position in range(1, 11)]
    by_packet: dict[str, int] = {}
    for packet, _, amount in rows[1:]:
        by_packet[packet] = by_packet.get(packet, 0) + int(amount)
    assert set(by_packet.values()) == {1000}
    assert "已模拟 50 个红包（公平拆分）" in result.output
    again = tmp_path / "again.csv"
    cli(
        "redpacket", "simulate", "--total-fen", "1000", "--count", "10", "--packets", "50",
        "--seed", "7", "--out", again,
    )  # fmt: skip
    assert again.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_simulate_previews_the_double_mean_method_and_refuses_impossible_packets(
    cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "dm.csv"

    cli(
        "redpacket", "simulate", "--total-fen", "500", "--count", "5", "--packets", "3",
        "--seed", "1", "--method", "double-mean", "--out", out,
    )  # fmt: skip
    refused = cli(
        "redpacket", "simulate", "--total-fen", "3", "--count", "5", "--packets", "3",
        "--out", tmp_path / "x.csv", expect=1,
    )  # fmt: skip

    assert len(out.read_text(encoding="utf-8").splitlines()) == 1 + 15
    assert "总金额 3 分不够每人 1 分（5 个）" in refused.output
