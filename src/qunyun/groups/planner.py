"""The store-matrix planner: pure functions from stores to groups (no database here).

Rules (see ``../shared/DOMAIN.md``): one serving rep's territory is the unit, a group never
mixes territories; a territory of n active stores gets ceil(n / max) groups (the seeds: about
200 members is best); no group is smaller than ``min_members`` unless the whole territory is;
inside a territory, stores alike in type, scale tier, closeness and growth share a group.

How: the territory's stores are ordered by the attributes that cost most when mixed (type,
growth, then tier and closeness), and the order is cut into exactly k contiguous groups within
the size bounds. The cuts minimise the plan's mean pairwise dissimilarity over all pairs in all
groups; that ratio is minimised exactly over the cut positions by Dinkelbach's method: for a
trial ratio λ, each territory's cuts minimise Σ(cost − λ·pairs) by dynamic programming, and λ
is updated to the ratio reached until it stops falling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from qunyun.channel.models import Growth, ScaleTier, StoreType

TYPE_ORDER = tuple(kind.value for kind in StoreType)
GROWTH_ORDER = tuple(growth.value for growth in Growth)
TIER_ORDER = tuple(tier.value for tier in ScaleTier)
"""A store without a scale tier counts as D (no purchase on record)."""


@dataclass(frozen=True)
class StoreFacts:
    """What the planner knows of an active store."""

    store_id: str
    rep_id: str
    store_type: str
    scale_tier: str | None
    closeness: int
    growth: str

    @property
    def tier_index(self) -> int:
        """Return 0 for tier A … 3 for D (and for a store without a tier)."""
        return TIER_ORDER.index(self.scale_tier) if self.scale_tier in TIER_ORDER else 3


@dataclass(frozen=True)
class PlannerSettings:
    """Size rules of store groups."""

    max_members: int = 200
    """Most customer members per group (WeCom lets 200 join by QR code)."""
    min_members: int = 30
    """Fewest customer members per group, unless the whole territory has fewer stores."""

    def __post_init__(self) -> None:
        """Refuse bounds that cannot hold together."""
        if not 1 <= self.min_members <= self.max_members:
            raise ValueError(
                f"min_members {self.min_members} must be between 1 and max_members "
                f"{self.max_members}"
            )


def dissimilarity(a: StoreFacts, b: StoreFacts) -> float:
    """Return how unlike two stores are: type, tier, closeness and growth, each up to 1."""
    return (
        (a.store_type != b.store_type)
        + abs(a.tier_index - b.tier_index) / 3
        + abs(a.closeness - b.closeness) / 4
        + (a.growth != b.growth)
    )


def _pair_cost(stores: Sequence[StoreFacts]) -> tuple[float, int]:
    """Return the summed dissimilarity over all pairs of ``stores``, and the number of pairs."""
    size = len(stores)
    pairs = size * (size - 1) // 2
    types: dict[str, int] = {}
    growths: dict[str, int] = {}
    tiers = [0] * 4
    closeness = [0] * 5
    for store in stores:
        types[store.store_type] = types.get(store.store_type, 0) + 1
        growths[store.growth] = growths.get(store.growth, 0) + 1
        tiers[store.tier_index] += 1
        closeness[min(max(store.closeness, 1), 5) - 1] += 1
    return pairs_cost(pairs, types.values(), growths.values(), tiers, closeness), pairs


def pairs_cost(
    pairs: int,
    type_counts: Iterable[int],
    growth_counts: Iterable[int],
    tier_counts: Sequence[int],
    closeness_counts: Sequence[int],
) -> float:
    """Return the summed pairwise dissimilarity of a group given its attribute counts."""
    same_type = sum(count * (count - 1) // 2 for count in type_counts)
    same_growth = sum(count * (count - 1) // 2 for count in growth_counts)
    return (
        (pairs - same_type)
        + (pairs - same_growth)
        + _spread(tier_counts) / 3
        + _spread(closeness_counts) / 4
    )


def _spread(counts: Sequence[int]) -> int:
    """Return Σ over pairs of |index difference| for items counted per index."""
    total = 0
    for low in range(len(counts)):
        if counts[low]:
            for high in range(low + 1, len(counts)):
                total += counts[low] * counts[high] * (high - low)
    return total


def plan_score(groups: Iterable[Sequence[StoreFacts]]) -> float:
    """Return the mean pairwise dissimilarity over all pairs inside the groups (0 = alike)."""
    total_cost = 0.0
    total_pairs = 0
    for group in groups:
        cost, pairs = _pair_cost(group)
        total_cost += cost
        total_pairs += pairs
    return total_cost / total_pairs if total_pairs else 0.0


def group_count(stores: int, settings: PlannerSettings) -> int:
    """Return how many groups a territory of ``stores`` active stores gets."""
    return math.ceil(stores / settings.max_members) if stores else 0


def territories(stores: Iterable[StoreFacts]) -> dict[str, list[StoreFacts]]:
    """Return the stores of each serving rep, in store id order (reps in id order)."""
    by_rep: dict[str, list[StoreFacts]] = {}
    for store in stores:
        by_rep.setdefault(store.rep_id, []).append(store)
    return {
        rep: sorted(members, key=lambda store: store.store_id)
        for rep, members in sorted(by_rep.items())
    }


def baseline_groups(
    stores: Iterable[StoreFacts], settings: PlannerSettings
) -> list[list[StoreFacts]]:
    """Return the naive plan the planner must beat.

    Each territory is sorted by type, tier, closeness and growth, then cut into consecutive
    chunks of ``max_members``.
    """
    groups: list[list[StoreFacts]] = []
    for members in territories(stores).values():
        ordered = sorted(
            members,
            key=lambda s: (s.store_type, s.tier_index, s.closeness, s.growth, s.store_id),
        )
        step = settings.max_members
        groups.extend(ordered[start : start + step] for start in range(0, len(ordered), step))
    return groups


def _planner_order(store: StoreFacts) -> tuple[int, int, int, int, str]:
    type_index = (
        TYPE_ORDER.index(store.store_type) if store.store_type in TYPE_ORDER else len(TYPE_ORDER)
    )
    growth_index = (
        GROWTH_ORDER.index(store.growth) if store.growth in GROWTH_ORDER else len(GROWTH_ORDER)
    )
    return (type_index, growth_index, store.tier_index, store.closeness, store.store_id)


class _Territory:
    """One territory in planner order, with prefix counts so that any range costs O(1)."""

    def __init__(self, stores: Sequence[StoreFacts], settings: PlannerSettings) -> None:
        self.stores = sorted(stores, key=_planner_order)
        self.size = len(self.stores)
        self.groups = group_count(self.size, settings)
        self.settings = settings
        kinds = sorted({store.store_type for store in self.stores})
        growths = sorted({store.growth for store in self.stores})
        self.type_prefix = self._prefix(
            [kinds.index(s.store_type) for s in self.stores], len(kinds)
        )
        self.growth_prefix = self._prefix(
            [growths.index(s.growth) for s in self.stores], len(growths)
        )
        self.tier_prefix = self._prefix([s.tier_index for s in self.stores], 4)
        self.closeness_prefix = self._prefix(
            [min(max(s.closeness, 1), 5) - 1 for s in self.stores], 5
        )

    @staticmethod
    def _prefix(values: Sequence[int], width: int) -> list[list[int]]:
        running = [0] * width
        table = [running[:]]
        for value in values:
            running[value] += 1
            table.append(running[:])
        return table

    def cost(self, start: int, end: int) -> tuple[float, int]:
        """Return (summed pairwise dissimilarity, pairs) of stores[start:end]."""
        size = end - start
        pairs = size * (size - 1) // 2

        def counts(table: list[list[int]]) -> list[int]:
            high, low = table[end], table[start]
            return [high[index] - low[index] for index in range(len(high))]

        return (
            pairs_cost(
                pairs,
                counts(self.type_prefix),
                counts(self.growth_prefix),
                counts(self.tier_prefix),
                counts(self.closeness_prefix),
            ),
            pairs,
        )

    def cuts(self, ratio: float) -> list[int]:
        """Return group boundaries minimising Σ(cost − ratio·pairs) over feasible cuts."""
        n, k = self.size, self.groups
        if k <= 1:
            return [0, n]
        low = self.settings.min_members
        high = self.settings.max_members
        layers: list[dict[int, tuple[float, int]]] = [{0: (0.0, -1)}]
        previous_first = previous_last = 0
        for group in range(1, k + 1):
            # a boundary after `group` groups leaves room for the groups still to come
            first = max(group * low, n - (k - group) * high)
            last = min(group * high, n - (k - group) * low)
            layer: dict[int, tuple[float, int]] = {}
            previous = layers[-1]
            for end in range(first, last + 1):
                choice: tuple[float, int] | None = None
                for start in range(
                    max(end - high, previous_first), min(end - low, previous_last) + 1
                ):
                    entry = previous.get(start)
                    if entry is None:
                        continue
                    cost, pairs = self.cost(start, end)
                    value = entry[0] + cost - ratio * pairs
                    if choice is None or value < choice[0]:
                        choice = (value, start)
                if choice is not None:
                    layer[end] = choice
            layers.append(layer)
            previous_first, previous_last = first, last
        boundaries = [n]
        for layer in reversed(layers[1:]):
            boundaries.append(layer[boundaries[-1]][1])
        return boundaries[::-1]

    def split(self, boundaries: Sequence[int]) -> list[list[StoreFacts]]:
        """Return the groups between consecutive boundaries."""
        return [self.stores[a:b] for a, b in pairwise(boundaries)]


def plan_store_groups(
    stores: Iterable[StoreFacts], settings: PlannerSettings | None = None, rounds: int = 4
) -> dict[str, list[list[StoreFacts]]]:
    """Return each serving rep's store groups for a fresh plan (no groups exist yet).

    Every store is in exactly one group of its own rep's territory; a territory of n stores
    has ceil(n / max_members) groups, each within the size bounds (one group when n is
    below ``min_members``). Deterministic for the same input.
    """
    settings = settings or PlannerSettings()
    plans = {rep: _Territory(members, settings) for rep, members in territories(stores).items()}
    boundaries = {rep: territory.cuts(0.0) for rep, territory in plans.items()}
    ratio = _ratio(plans, boundaries)
    for _ in range(rounds):
        candidate = {rep: territory.cuts(ratio) for rep, territory in plans.items()}
        better = _ratio(plans, candidate)
        if better >= ratio - 1e-12:
            break
        boundaries, ratio = candidate, better
    return {rep: plans[rep].split(boundaries[rep]) for rep in plans}


def _ratio(plans: Mapping[str, _Territory], boundaries: Mapping[str, Sequence[int]]) -> float:
    total_cost = 0.0
    total_pairs = 0
    for rep, territory in plans.items():
        cuts = boundaries[rep]
        for start, end in pairwise(cuts):
            cost, pairs = territory.cost(start, end)
            total_cost += cost
            total_pairs += pairs
    return total_cost / total_pairs if total_pairs else 0.0
