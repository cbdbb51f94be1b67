"""Red-packet splits: the position-fair split Qunyun uses, and WeChat's double-mean for contrast.

**Fair split.** A packet of ``total`` fen for ``count`` grabbers gives everyone 1 fen and
shares the ``extra = total - count`` fen left by drawing a weak composition of ``extra`` into
``count`` parts uniformly at random ("stars and bars"): choose ``count - 1`` bar places among
``extra + count - 1`` slots uniformly, and read off the gaps. Every composition has the same
probability, and permuting a composition gives another composition, so the vector of shares is
exchangeable: the 1st, the 2nd, … and the last grabber have exactly the same distribution of
amounts and the same chance of best luck. Shares are drawn when the packet is created and
stored per position; a grab claims the next position. The best-luck position is also fixed at
creation (the largest share, ties broken uniformly at random), so a tie cannot favour the
earlier grabber.

**Double mean** (二倍均值, the method WeChat is reported to use): each grabber in turn gets a
uniform amount between 1 fen and twice the mean of what is left, the last one takes the rest.
The mean is the same for every position but the spread is not: early grabbers draw from
``[1, 2·total/count]``, later ones from a range that depends on what the earlier ones left, and
the last grabber takes a remainder with the widest spread and the most best-luck wins.
``qunyun redpacket simulate --method double-mean`` shows it; ``benchmarks/redpacket_fairness.py``
measures both.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt


class SplitMethod(StrEnum):
    """How a red packet's total is cut into shares."""

    FAIR = "fair"
    DOUBLE_MEAN = "double-mean"


def check_split(total_fen: int, count: int) -> None:
    """Raise ValueError unless ``count`` ≥ 1 people can each get at least 1 fen of ``total_fen``."""
    if count < 1:
        raise ValueError(f"红包个数至少为 1（收到 {count}）")
    if total_fen < count:
        raise ValueError(f"总金额 {total_fen} 分不够每人 1 分（{count} 个）")


def fair_split(total_fen: int, count: int, rng: random.Random) -> list[int]:
    """Return ``count`` shares ≥ 1 fen summing to ``total_fen``, uniform over all such splits.

    Raise ValueError when the total cannot give everyone 1 fen.
    """
    check_split(total_fen, count)
    extra = total_fen - count
    bars = sorted(rng.sample(range(extra + count - 1), count - 1))
    shares = []
    previous = -1
    for bar in bars:
        shares.append(bar - previous)  # gap of stars between two bars, plus the 1 fen floor
        previous = bar
    shares.append(extra + count - 1 - previous)
    return shares


def double_mean_split(total_fen: int, count: int, rng: random.Random) -> list[int]:
    """Return shares by WeChat's double-mean method, in grab order (for comparison only).

    Raise ValueError when the total cannot give everyone 1 fen.
    """
    check_split(total_fen, count)
    remaining = total_fen
    shares = []
    for left in range(count, 1, -1):
        upper = min(2 * remaining // left, remaining - (left - 1))
        amount = rng.randint(1, max(1, upper))
        shares.append(amount)
        remaining -= amount
    shares.append(remaining)
    return shares


def split(total_fen: int, count: int, rng: random.Random, method: SplitMethod) -> list[int]:
    """Return the shares of one packet by ``method``, position 1 first."""
    if method is SplitMethod.FAIR:
        return fair_split(total_fen, count, rng)
    return double_mean_split(total_fen, count, rng)


def best_luck_position(shares: Sequence[int], rng: random.Random) -> int:
    """Return the 1-based position of the largest share, ties broken uniformly at random."""
    largest = max(shares)
    tied = [index + 1 for index, amount in enumerate(shares) if amount == largest]
    return tied[0] if len(tied) == 1 else rng.choice(tied)


def simulate(
    total_fen: int, count: int, packets: int, seed: int, method: SplitMethod
) -> Iterator[list[int]]:
    """Yield the shares of ``packets`` simulated packets, reproducible for a given ``seed``."""
    rng = random.Random(seed)
    for _ in range(packets):
        yield split(total_fen, count, rng, method)


def simulate_matrix(
    total_fen: int, count: int, packets: int, seed: int, method: SplitMethod
) -> npt.NDArray[np.int64]:
    """Return simulated packets as a (packets, count) array, row = packet, column = position."""
    matrix = np.empty((packets, count), dtype=np.int64)
    for row, shares in enumerate(simulate(total_fen, count, packets, seed, method)):
        matrix[row] = shares
    return matrix


# --- statistics used by the fairness test and benchmark -----------------------------------


@dataclass(frozen=True)
class KsResult:
    """A two-sample Kolmogorov–Smirnov test: the statistic D and its asymptotic p-value."""

    statistic: float
    p_value: float


def ks_two_sample(first: npt.ArrayLike, second: npt.ArrayLike) -> KsResult:
    """Return the two-sample KS statistic and asymptotic p-value of two samples.

    D is the largest gap between the empirical distribution functions; the p-value is the
    Kolmogorov limit distribution at ``(√n + 0.12 + 0.11/√n)·D`` with ``n = n1·n2/(n1+n2)``
    (Stephens' correction). For integer amounts the test is conservative (p-values too high),
    which only makes a failure more telling.
    """
    a = np.sort(np.asarray(first, dtype=np.float64))
    b = np.sort(np.asarray(second, dtype=np.float64))
    values = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, values, side="right") / a.size
    cdf_b = np.searchsorted(b, values, side="right") / b.size
    statistic = float(np.max(np.abs(cdf_a - cdf_b)))
    effective = math.sqrt(a.size * b.size / (a.size + b.size))
    return KsResult(
        statistic, kolmogorov_survival((effective + 0.12 + 0.11 / effective) * statistic)
    )


def kolmogorov_survival(x: float) -> float:
    """Return P(K > x) for the Kolmogorov distribution (1 at x ≤ 0)."""
    if x <= 0.0:
        return 1.0
    if x < 1.18:  # the alternating series converges slowly here; use the theta-function form
        t = math.exp(-(math.pi**2) / (8 * x * x))
        cdf = math.sqrt(2 * math.pi) / x * sum(t ** ((2 * k - 1) ** 2) for k in range(1, 8))
        return max(0.0, min(1.0, 1.0 - cdf))
    total = sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))
    return max(0.0, min(1.0, 2.0 * float(total)))


def best_luck_counts(matrix: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.int64]:
    """Return how often each position held best luck (ties broken uniformly at random)."""
    rng = np.random.default_rng(seed)
    noise = rng.random(matrix.shape)
    # among tied maxima the random key decides: amounts dominate, the key only orders ties
    keyed = matrix.astype(np.float64) + noise * 0.5
    winners = np.argmax(keyed, axis=1)
    return np.bincount(winners, minlength=matrix.shape[1]).astype(np.int64)


def chi_square_uniform(counts: npt.NDArray[np.int64]) -> KsResult:
    """Return the chi-square statistic of ``counts`` against equal shares and its p-value.

    The p-value uses the Wilson–Hilferty normal approximation of the chi-square tail, accurate
    to well below the 0.001 level the tests use for k − 1 ≥ 3 degrees of freedom.
    """
    expected = counts.sum() / counts.size
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    freedom = counts.size - 1
    z = ((statistic / freedom) ** (1 / 3) - (1 - 2 / (9 * freedom))) / math.sqrt(2 / (9 * freedom))
    return KsResult(statistic, 0.5 * math.erfc(z / math.sqrt(2)))
