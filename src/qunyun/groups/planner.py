"""The store-matrix planner: pure functions from stores to groups (no database here).

Rules (see ``../shared/DOMAIN.md``): one serving rep's territory is the unit, a group never
mixes territories; a territory of n active stores gets ceil(n / max) groups (the seeds: about
200 members is best); no group is smaller than ``min_members`` unless the whole territory is;
inside a territory, stores alike in type, scale tier, closeness and growth share a group.

How: the plan's score is the mean pairwise dissimilarity over all pairs in all groups, a
ratio, minimised by Dinkelbach's method: for a trial ratio λ, each territory on its own
minimises Σ(cost − λ·pairs) over its groups, and λ becomes the ratio reached until it stops
falling. Inside a territory, stores with the same (type, growth, tier, closeness) are
interchangeable, so groups are vectors of counts per attribute profile; a local search moves
and swaps stores between the territory's groups while the sum falls, starting from two
orders (growth first, type first) cut into equal chunks, and keeps the better result. Sizes
stay within the bounds throughout. Cost grows linearly in stores.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import chain, compress, islice, pairwise
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np

from qunyun.channel.models import Growth, ScaleTier, StoreType

_STORE_ID = attrgetter("store_id")
TYPE_ORDER = tuple(kind.value for kind in StoreType)
GROWTH_ORDER = tuple(growth.value for growth in Growth)
TIER_ORDER = tuple(tier.value for tier in ScaleTier)
"""A store without a scale tier counts as D (no purchase on record)."""
_TYPE_RANK = {kind: rank for rank, kind in enumerate(TYPE_ORDER)}
_GROWTH_RANK = {growth: rank for rank, growth in enumerate(GROWTH_ORDER)}
_TIER_RANK: dict[str | None, int] = {tier: rank for rank, tier in enumerate(TIER_ORDER)}


class StoreFacts(NamedTuple):
    """What the planner knows of an active store (a tuple: two million are made per plan).

    The region and the annual purchase are not the planner's: the plan's names, provinces and
    VIP matrix read them from the same tuple, so a plan makes one object per store.
    """

    store_id: str
    rep_id: str
    store_type: str
    scale_tier: str | None
    closeness: int
    growth: str
    region_code: str | None = None
    annual_purchase_fen: int = 0

    @property
    def tier_index(self) -> int:
        """Return 0 for tier A … 3 for D (and for a store without a tier)."""
        return _TIER_RANK.get(self.scale_tier, 3)


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
        if 2 * self.min_members > self.max_members + 1:
            raise ValueError(
                f"min_members {self.min_members} must be at most half of max_members + 1 "
                f"({(self.max_members + 1) // 2}): a territory of {self.max_members + 1} stores "
                "needs two groups"
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
    stores = list(stores)
    ids = list(map(_STORE_ID, stores))
    in_order = all(map(str.__lt__, ids, islice(ids, 1, None)))  # as a plan reads them
    by_rep: dict[str, list[StoreFacts]] = {}
    for store in stores:
        by_rep.setdefault(store.rep_id, []).append(store)
    if in_order:  # each territory's list is in store id order already (sorting costs a second)
        return {rep: by_rep[rep] for rep in sorted(by_rep)}
    return {
        rep: sorted(members)
        for rep, members in sorted(by_rep.items())  # store id first, unique
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
    return (
        _TYPE_RANK.get(store.store_type, len(TYPE_ORDER)),
        _GROWTH_RANK.get(store.growth, len(GROWTH_ORDER)),
        _TIER_RANK.get(store.scale_tier, 3),
        store.closeness,
        store.store_id,
    )


ORDERS: tuple[tuple[int, ...], ...] = ((1, 0, 2, 3), (0, 1, 2, 3))
"""Starting orders over (type, growth, tier, closeness): growth first, then type first."""


_RADIX = (len(TYPE_ORDER) + 1, len(GROWTH_ORDER) + 1, len(TIER_ORDER), 5)
"""Mixed radix of a profile code (type, growth, tier, closeness 1–5 as 0–4): codes sort as the
profiles' tuples do (an unknown type or growth ranks after the known ones)."""

PARALLEL_FROM = 100_000
"""Fresh plans of at least this many stores search their territories on two processes."""


def _profile_code(store: StoreFacts) -> int:
    return (
        (
            (
                _TYPE_RANK.get(store.store_type, len(TYPE_ORDER)) * _RADIX[1]
                + _GROWTH_RANK.get(store.growth, len(GROWTH_ORDER))
            )
            * _RADIX[2]
            + _TIER_RANK.get(store.scale_tier, 3)
        )
        * _RADIX[3]
        + min(max(store.closeness, 1), 5)
        - 1
    )


class _ProfileCodes(dict[tuple[str, str, str | None, int], int]):
    """Profile codes by (type, growth, tier, closeness), each computed when first asked for."""

    def __missing__(self, key: tuple[str, str, str | None, int]) -> int:
        store_type, growth, tier, closeness = key
        code = _profile_code(StoreFacts("", "", store_type, tier, closeness, growth))
        self[key] = code
        return code


def _decode(codes: np.ndarray) -> np.ndarray:
    """Return the (type, growth, tier, closeness) columns of profile codes, one row each."""
    columns = []
    for radix in reversed(_RADIX):
        columns.append(codes % radix)
        codes = codes // radix
    return np.stack(columns[::-1], axis=1)


class _Territory:
    """One territory's stores as attribute profiles, and its groups as counts per profile.

    Stores with the same type, growth, tier and closeness are interchangeable for the score,
    so a group is a vector of counts over the profiles present, and the plan's summed
    dissimilarity of group g is ``½ cᵀ D c`` with D the profiles' dissimilarity matrix.
    Built from the stores' profile codes alone, so that it can travel to a worker process.
    """

    def __init__(self, codes: np.ndarray, settings: PlannerSettings) -> None:
        profiles, self.present = np.unique(codes, return_counts=True)
        self.groups = group_count(len(codes), settings)
        self.settings = settings
        self.attributes = _decode(profiles)
        kind, growth, tier, closeness = self.attributes.T
        self.distance = (
            (kind[:, None] != kind[None, :]).astype(float)
            + (growth[:, None] != growth[None, :])
            + np.abs(tier[:, None] - tier[None, :]) / 3
            + np.abs(closeness[:, None] - closeness[None, :]) / 4
        )

    def start(self, order: Sequence[int]) -> np.ndarray:
        """Return counts of the territory sorted by ``order`` and cut into equal chunks."""
        profiles = self.attributes
        ranked = np.lexsort([profiles[:, column] for column in reversed(order)])
        expanded = np.repeat(ranked, self.present[ranked])
        counts = np.zeros((self.groups, len(profiles)), dtype=np.int64)
        bounds = [round(g * len(expanded) / self.groups) for g in range(self.groups + 1)]
        for group, (low, high) in enumerate(pairwise(bounds)):
            counts[group] = np.bincount(expanded[low:high], minlength=len(profiles))
        return counts

    def whole_cost(self) -> tuple[float, int]:
        """Return the summed dissimilarity and the pairs of the territory as one group."""
        size = int(self.present.sum())
        weights = self.present
        kind, growth, tier, closeness = self.attributes.T
        tiers = np.bincount(tier, weights, minlength=4).astype(np.int64)
        closes = np.bincount(closeness, weights, minlength=5).astype(np.int64)
        pairs = size * (size - 1) // 2
        return (
            pairs_cost(
                pairs,
                [int(c) for c in np.bincount(kind, weights).astype(np.int64) if c],
                [int(c) for c in np.bincount(growth, weights).astype(np.int64) if c],
                [int(c) for c in tiers],
                [int(c) for c in closes],
            ),
            pairs,
        )

    def value(self, counts: np.ndarray, ratio: float) -> tuple[float, float, int]:
        """Return (Σ cost − ratio·pairs, Σ cost, Σ pairs) of the groups ``counts``."""
        cost = float(np.einsum("gp,pq,gq->", counts, self.distance, counts)) / 2
        sizes = counts.sum(axis=1)
        pairs = int((sizes * (sizes - 1) // 2).sum())
        return cost - ratio * pairs, cost, pairs

    def improve(self, counts: np.ndarray, ratio: float) -> np.ndarray:
        """Return ``counts`` after moving and swapping stores while Σ(cost − ratio·pairs) falls.

        Moving a store of profile p from group a to b changes the sum by
        ``affinity[b, p] − affinity[a, p] − ratio``, where ``affinity[g, p]`` sums
        (dissimilarity − ratio) from p to the members of g; swapping p (a→b) with q (b→a) by
        ``affinity[b,p] − affinity[a,p] + affinity[a,q] − affinity[b,q] − 2·D[p,q]``. Moves
        keep every group within the size bounds; swaps keep the sizes.
        """
        counts = counts.copy()
        low, high = self.settings.min_members, self.settings.max_members
        shifted = self.distance - ratio
        affinity = counts @ shifted
        sizes = counts.sum(axis=1)
        others = ~np.eye(len(counts), dtype=bool)
        while True:
            # gain[a, b, p]: the change when one store of profile p goes from a to b
            movable = (counts > 0)[:, None, :] & (
                others & (sizes > low)[:, None] & (sizes < high)[None, :]
            )[:, :, None]
            gain = np.where(movable, affinity[None, :, :] - affinity[:, None, :], np.inf)
            best = int(np.argmin(gain))
            if gain.flat[best] - ratio < -1e-9:
                source, target, profile = (int(i) for i in np.unravel_index(best, gain.shape))
                # each further store of the same profile gains 2·ratio more (they attract), so
                # move as many as the counts and size bounds allow
                units = int(min(counts[source, profile], sizes[source] - low, high - sizes[target]))
                self._move(counts, affinity, shifted, profile, source, target, units)
                sizes[source] -= units
                sizes[target] += units
                continue
            swap = self._best_swap(counts, affinity, self.distance)
            if swap is None:
                return counts
            a, b, p, q = swap
            self._move(counts, affinity, shifted, p, a, b)
            self._move(counts, affinity, shifted, q, b, a)

    @staticmethod
    def _move(
        counts: np.ndarray,
        affinity: np.ndarray,
        shifted: np.ndarray,
        p: int,
        a: int,
        b: int,
        units: int = 1,
    ) -> None:
        counts[a, p] -= units
        counts[b, p] += units
        affinity[a] -= units * shifted[p]
        affinity[b] += units * shifted[p]

    @staticmethod
    def _best_swap(
        counts: np.ndarray, affinity: np.ndarray, distance: np.ndarray
    ) -> tuple[int, int, int, int] | None:
        best: tuple[float, tuple[int, int, int, int] | None] = (-1e-9, None)
        present = [np.flatnonzero(row) for row in counts]
        for a in range(len(counts)):
            for b in range(a + 1, len(counts)):
                ps, qs = present[a], present[b]
                leaving = affinity[b, ps] - affinity[a, ps]
                coming = affinity[a, qs] - affinity[b, qs]
                gain = leaving[:, None] + coming[None, :] - 2 * distance[ps[:, None], qs[None, :]]
                at = int(np.argmin(gain))
                if gain.flat[at] < best[0]:
                    i, j = divmod(at, len(qs))
                    best = (float(gain.flat[at]), (a, b, int(ps[i]), int(qs[j])))
        return best[1]


def _search(
    task: tuple[np.ndarray, PlannerSettings, float, list[np.ndarray] | None],
) -> tuple[np.ndarray, float, int]:
    """Return one territory's best counts for the ratio, and their summed cost and pairs.

    ``task`` is (profile codes, settings, ratio, the starting counts or None for the
    starting orders); pure, so it runs in a worker process as well.
    """
    codes, settings, ratio, starts = task
    territory = _Territory(codes, settings)
    if starts is None:
        starts = [territory.start(order) for order in ORDERS]
    improved = [territory.improve(start, ratio) for start in starts]
    best = min(improved, key=lambda counts: territory.value(counts, ratio)[0])
    _, cost, pairs = territory.value(best, 0.0)
    return best, cost, pairs


def plan_store_groups(
    stores: Iterable[StoreFacts] | StoreColumns,
    settings: PlannerSettings | None = None,
    rounds: int = 2,
    workers: int | None = None,
) -> dict[str, list[list[StoreFacts]]]:
    """Return each serving rep's store groups for a fresh plan (no groups exist yet).

    Every store is in exactly one group of its own rep's territory; a territory of n stores
    has ceil(n / max_members) groups, each within the size bounds (one group when n is
    below ``min_members``). Deterministic for the same input, whatever ``workers``.

    How: the plan's score is a ratio (summed dissimilarity over pairs), minimised by
    Dinkelbach's method: for a trial ratio λ each territory minimises Σ(cost − λ·pairs) on
    its own, by local search from two starting orders, and λ becomes the ratio reached, until
    it stops falling. The territories are independent within a round, so ``workers``
    processes share them (default: two from ``PARALLEL_FROM`` stores on, else one).
    """
    settings = settings or PlannerSettings()
    columns = stores if isinstance(stores, StoreColumns) else StoreColumns(stores)
    facts = columns.stores
    if not facts:
        return {}
    codes, order, bounds, reps, id_rank = _columns(columns)
    territory_codes = [codes[order[low:high]] for low, high in pairwise(bounds)]
    sizes = np.diff(bounds)
    split = [t for t, size in enumerate(sizes) if group_count(int(size), settings) > 1]
    unsplit = [0.0, 0]
    for t, size in enumerate(sizes):
        if group_count(int(size), settings) <= 1:
            cost, pairs = _Territory(territory_codes[t], settings).whole_cost()
            unsplit[0] += cost
            unsplit[1] += pairs
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(facts) >= PARALLEL_FROM else 1
    with _pool(workers) as run:
        starting = {t: _Territory(territory_codes[t], settings).start(ORDERS[0]) for t in split}
        counts = starting
        ratio = _pooled(
            unsplit,
            [_Territory(territory_codes[t], settings).value(c, 0.0)[1:] for t, c in counts.items()],
        )
        for round_number in range(rounds):
            tasks = [
                (territory_codes[t], settings, ratio, None if round_number == 0 else [counts[t]])
                for t in split
            ]
            results = list(run(_search, tasks))
            better = _pooled(unsplit, [(cost, pairs) for _, cost, pairs in results])
            if better >= ratio - 1e-12:
                break
            counts = {t: best for t, (best, _, _) in zip(split, results, strict=True)}
            ratio = better
    plan: dict[str, list[list[StoreFacts]]] = {}
    for t, (low, high) in enumerate(pairwise(bounds)):
        positions = order[low:high]
        if t in counts:
            plan[reps[t]] = [
                [facts[i] for i in group] for group in _split(positions, codes, id_rank, counts[t])
            ]
        else:
            plan[reps[t]] = [[facts[i] for i in positions]]
    return plan


def _columns(
    columns: StoreColumns,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Return the stores' profile codes, the planner order, territory bounds, reps, id ranks.

    The planner order sorts by rep, then type, growth, tier, closeness and store id; the
    stores of rep ``reps[t]`` are ``order[bounds[t]:bounds[t + 1]]``. The stores come in store
    id order, so a store's id rank is its position.
    """
    size = len(columns)
    # a profile's code is computed once per distinct profile, then taken per store
    radix = _ProfileCodes()
    by_profile = np.array([radix[profile] for profile in columns.profiles], dtype=np.int64)
    codes = by_profile[columns.profile]
    rep = columns.rep
    id_rank = np.arange(size, dtype=np.int64)
    # closeness raw after the clamped profile code, as _planner_order sorts
    order = np.lexsort((id_rank, columns.closeness, codes // _RADIX[3], rep))
    bounds = np.searchsorted(rep[order], np.arange(len(columns.reps) + 1))
    return codes, order, bounds, columns.reps, id_rank


def _split(
    positions: np.ndarray, codes: np.ndarray, id_rank: np.ndarray, counts: np.ndarray
) -> list[np.ndarray]:
    """Return the groups of ``counts`` as store indices, stores of a profile dealt by store id.

    ``positions`` are the territory's stores in planner order; each group comes back in
    planner order, and the groups by their first store.
    """
    _, profile_of = np.unique(codes[positions], return_inverse=True)
    rank = np.arange(len(positions))
    dealt = np.lexsort((id_rank[positions], profile_of))
    groups, width = counts.shape
    labels = np.repeat(np.tile(np.arange(groups), width), counts.T.ravel())
    members = [np.sort(rank[dealt[labels == g]]) for g in range(groups)]
    members.sort(key=lambda ranks: int(ranks[0]))
    return [positions[ranks] for ranks in members]


def _pooled(unsplit: Sequence[float], parts: Iterable[tuple[float, int]]) -> float:
    """Return the plan's mean pairwise dissimilarity from the one-group sums and the parts."""
    total_cost, total_pairs = unsplit[0], int(unsplit[1])
    for cost, pairs in parts:
        total_cost += cost
        total_pairs += pairs
    return total_cost / total_pairs if total_pairs else 0.0


@contextmanager
def _pool(workers: int) -> Iterator[Callable[..., Iterable[Any]]]:
    """Yield a ``map`` that runs on ``workers`` processes (the plain one for one worker)."""
    if workers <= 1:
        yield map
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as executor:
        yield lambda function, tasks: executor.map(function, tasks, chunksize=32)


class StoreColumns:
    """Active stores in store id order, and their attributes as arrays of codes.

    Made once per plan and shared by the re-plan and the VIP matrix: each column costs a pass
    over millions of ``StoreFacts``, made when first asked for. A column of codes numbers the
    distinct values in the order first met (``reps`` in id order).
    """

    def __init__(self, stores: Iterable[StoreFacts]) -> None:
        stores = list(stores)
        ids = list(map(_STORE_ID, stores))
        if not all(map(str.__lt__, ids, islice(ids, 1, None))):  # a plan reads them in order
            stores = sorted(stores)  # store id first, unique
            ids = list(map(_STORE_ID, stores))
        self.stores = stores
        self.ids = ids

    def __len__(self) -> int:
        return len(self.stores)

    @cached_property
    def _reps(self) -> tuple[list[str], np.ndarray]:
        reps, codes = _coded(map(attrgetter("rep_id"), self.stores), len(self.stores))
        ranked = sorted(range(len(reps)), key=reps.__getitem__)
        rank = np.empty(len(reps), dtype=np.int64)
        rank[ranked] = np.arange(len(reps))
        return [reps[number] for number in ranked], rank[codes]

    @property
    def reps(self) -> list[str]:
        """The serving reps, in id order."""
        return self._reps[0]

    @property
    def rep(self) -> np.ndarray:
        """Each store's rep, as its index in ``reps``."""
        return self._reps[1]

    @cached_property
    def _profiles(self) -> tuple[list[tuple[str, str, str | None, int]], np.ndarray]:
        return _coded(map(_PROFILE, self.stores), len(self.stores))

    @property
    def profiles(self) -> list[tuple[str, str, str | None, int]]:
        """The (type, growth, tier, closeness) profiles present."""
        return self._profiles[0]

    @property
    def profile(self) -> np.ndarray:
        """Each store's profile, as its index in ``profiles``."""
        return self._profiles[1]

    @cached_property
    def closeness(self) -> np.ndarray:
        """Each store's closeness."""
        by_profile = np.array([profile[3] for profile in self.profiles], dtype=np.int64)
        return by_profile[self.profile] if len(by_profile) else by_profile

    @cached_property
    def _regions(self) -> tuple[list[str | None], np.ndarray]:
        return _coded(map(attrgetter("region_code"), self.stores), len(self.stores))

    @property
    def regions(self) -> list[str | None]:
        """The regions present."""
        return self._regions[0]

    @property
    def region(self) -> np.ndarray:
        """Each store's region, as its index in ``regions``."""
        return self._regions[1]

    @cached_property
    def purchase(self) -> np.ndarray:
        """Each store's annual purchase (fen)."""
        return np.fromiter(
            map(attrgetter("annual_purchase_fen"), self.stores), np.int64, len(self.stores)
        )

    def facts_at(self, positions: np.ndarray) -> list[StoreFacts]:
        """Return the stores at ``positions``."""
        return list(map(self.stores.__getitem__, positions.tolist()))

    def ids_at(self, positions: np.ndarray) -> list[str]:
        """Return the ids of the stores at ``positions``."""
        return list(map(self.ids.__getitem__, positions.tolist()))

    def territory_regions(self) -> dict[str, set[str | None]]:
        """Return the regions the stores of each territory lie in."""
        width = max(len(self.regions), 1)
        pairs = np.unique(self.rep * width + self.region)
        found: dict[str, set[str | None]] = {}
        for rep, number in zip(*np.divmod(pairs, width), strict=True):
            found.setdefault(self.reps[rep], set()).add(self.regions[number])
        return found


def _coded(values: Iterable[Any], size: int) -> tuple[list[Any], np.ndarray]:
    """Return the distinct values in the order first met, and each value's number."""
    numbers = _Numbers()
    codes = np.fromiter(map(numbers.__getitem__, values), np.int64, size)
    return list(numbers), codes


# --- re-planning against the groups that exist ---------------------------------------------


@dataclass(frozen=True)
class CurrentGroup:
    """A store group as it stands: its territory and its current store members."""

    group_id: str
    territory_rep_id: str
    store_ids: tuple[str, ...]


@dataclass
class StorePlan:
    """The store matrix after a re-plan: every group's territory and members.

    ``groups`` holds kept and new groups (members of a kept group in store id order, of a new
    group in planner order); ``new_groups`` the ids created; ``archived`` the existing groups
    left without members; ``unchanged`` the kept groups whose members are exactly the current
    ones (most of them after a small churn: their store seats need no comparing).
    """

    groups: dict[str, tuple[str, list[str]]]
    new_groups: list[str]
    archived: list[str]
    unchanged: set[str] = field(default_factory=set)
    members: dict[str, list[StoreFacts] | Callable[[], list[StoreFacts]]] = field(
        default_factory=dict
    )
    """Each group's stores in the order of its ids in ``groups``, or how to list them: most
    groups of a re-plan are never asked for theirs."""
    regions: dict[str, set[str | None]] | None = None
    """The regions of each territory's stores, when the re-plan worked them out."""
    columns: StoreColumns | None = None
    """The stores the re-plan worked on, when it kept groups."""
    positions: dict[str, np.ndarray] = field(default_factory=dict)
    """The kept groups that kept their seated stores and got none: their stores' positions
    in ``columns`` (in the order of their ids in ``groups``)."""

    def facts(self, group_id: str) -> list[StoreFacts]:
        """Return the stores of a group in the order of its ids in ``groups``."""
        members = self.members[group_id]
        return members if isinstance(members, list) else members()

    def record(self, rep: str, existing: Sequence[CurrentGroup], built: Iterable[str]) -> None:
        """Note the new groups among ``built`` and the ``existing`` ones no longer built.

        ``built`` are the groups of territory ``rep`` now in ``groups``.
        """
        kept_ids = {group.group_id for group in existing}
        built_ids = set()
        for group_id in built:
            built_ids.add(group_id)
            if group_id not in kept_ids:
                self.new_groups.append(group_id)
        self.archived.extend(g.group_id for g in existing if g.group_id not in built_ids)


class _Seating:
    """The active stores in store id order, and where the current groups seat them.

    A re-plan's bulk work, done on arrays once for all territories: each store's territory,
    each group's seated stores (those still active in the group's territory), the stores
    seated nowhere. A store seated twice in its territory stays in the first group only.
    """

    def __init__(self, columns: StoreColumns, groups: Sequence[CurrentGroup]) -> None:
        self.columns = columns
        self.stores, self.ids = columns.stores, columns.ids
        size = len(columns)
        self.reps = columns.reps
        rep = columns.rep
        extra = {group.territory_rep_id for group in groups} - set(self.reps)
        if extra:  # territories left without an active store
            self.reps = sorted({*self.reps, *extra})
            index = {rep: number for number, rep in enumerate(self.reps)}
            rep = np.array([index[name] for name in columns.reps], dtype=np.int64)[rep]
        rep_index = {rep: index for index, rep in enumerate(self.reps)}
        self.order = np.argsort(rep, kind="stable")  # by territory, store id order inside
        self.bounds = np.searchsorted(rep[self.order], np.arange(len(self.reps) + 1))
        self.profile, self.profiles = columns.profile, columns.profiles
        # each seat's store position, by a hash join in Arrow (millions of seats)
        import pyarrow as pa
        import pyarrow.compute as pc

        lengths = np.fromiter((len(group.store_ids) for group in groups), np.int64, len(groups))
        seated = pc.index_in(
            pa.array(list(chain.from_iterable(group.store_ids for group in groups)), pa.string()),
            value_set=pa.array(self.ids, pa.string()),
        )
        position = seated.fill_null(-1).to_numpy().astype(np.int64)
        owner = np.repeat(np.arange(len(groups)), lengths)
        group_rep = np.fromiter(
            map(rep_index.__getitem__, (group.territory_rep_id for group in groups)),
            np.int64,
            len(groups),
        )
        keep = (position >= 0) & (rep[position] == group_rep[owner])
        if keep.any() and int(np.bincount(position[keep]).max()) > 1:  # seated twice
            seats = np.flatnonzero(keep)
            keep[:] = False
            keep[seats[np.unique(position[seats], return_index=True)[1]]] = True
        self.keep = keep
        """Whether each seat (the groups' ``store_ids`` one after the other) is kept."""
        self.seat_starts = np.concatenate(([0], np.cumsum(lengths)))
        position, owner = position[keep], owner[keep]
        backwards = (np.diff(position) <= 0) & (np.diff(owner) == 0)
        self.unordered = np.zeros(len(groups), dtype=bool)
        if backwards.any():  # seats out of store id order (a plan reads them sorted)
            self.unordered[owner[1:][backwards]] = True
            resorted = np.lexsort((position, owner))
            position, owner = position[resorted], owner[resorted]
        self.groups = groups
        self.seated = np.full(size, -1, dtype=np.int64)
        self.seated[position] = owner
        self.position = position
        self.starts = np.searchsorted(owner, np.arange(len(groups) + 1))
        self.in_order = (lengths == np.diff(self.starts)) & ~self.unordered
        """Whether a group keeps every seat of its current stores, listed in id order."""

    def territory(self, index: int) -> np.ndarray:
        """Return the positions of the stores of ``reps[index]``, in store id order."""
        order: np.ndarray = self.order
        return order[self.bounds[index] : self.bounds[index + 1]]

    def seats(self, group: int) -> np.ndarray:
        """Return the positions of the stores group ``group`` keeps, in store id order."""
        position: np.ndarray = self.position
        return position[self.starts[group] : self.starts[group + 1]]

    def facts_at(self, positions: np.ndarray) -> list[StoreFacts]:
        """Return the stores at ``positions``."""
        return self.columns.facts_at(positions)

    def kept_ids(self, group: int) -> list[str]:
        """Return the ids of the stores group ``group`` keeps, in store id order."""
        if self.unordered[group]:
            return self.ids_at(self.seats(group))
        low, high = self.seat_starts[group], self.seat_starts[group + 1]
        return list(compress(self.groups[group].store_ids, self.keep[low:high].tolist()))

    def ids_at(self, positions: np.ndarray) -> list[str]:
        """Return the ids of the stores at ``positions``."""
        return self.columns.ids_at(positions)


class _Numbers(dict[Any, int]):
    """Numbers for values (a store's region, its attribute profile), in the order first met."""

    def __missing__(self, key: Any) -> int:
        number = self[key] = len(self)
        return number


class _Group:
    """A group under construction, with attribute counts for O(1) similarity.

    A kept group starts from the stores it seats (``seating`` positions, made into facts only
    when its members are asked for); a new group from its members. The counts are made on
    the first similarity asked for: a re-plan keeps most groups as they are and never asks.
    """

    def __init__(
        self,
        group_id: str,
        members: dict[str, StoreFacts] | None = None,
        *,
        seating: _Seating | None = None,
        seats: np.ndarray | None = None,
        current: int | None = None,
    ) -> None:
        self.group_id = group_id
        self._members = members
        self._seating, self.seats = seating, seats
        self.current = current
        """The group's index among the seating's current groups (None for a new group)."""
        self.added: dict[str, StoreFacts] = {}
        """Stores added before the members were made (in the order added)."""
        self.size = len(members) if members is not None else len(seats) if seats is not None else 0
        self.changed = False
        self.counted = False
        self.types: dict[str, int] = {}
        self.growths: dict[str, int] = {}
        self.tiers = [0] * 4
        self.closeness = [0] * 5

    @property
    def members(self) -> dict[str, StoreFacts]:
        """The members by store id (the seated stores in id order, then those added)."""
        if self._members is None:
            assert self._seating is not None
            assert self.seats is not None
            seated = self._seating.facts_at(self.seats)
            self._members = dict(zip(map(_STORE_ID, seated), seated, strict=True))
            self._members.update(self.added)
            self.added = {}
        return self._members

    def store_ids(self) -> list[str]:
        """Return the members' ids in store id order."""
        if self._members is not None:
            return sorted(self._members)
        assert self._seating is not None
        assert self.seats is not None
        assert self.current is not None
        return sorted(self._seating.kept_ids(self.current) + list(self.added))

    def __len__(self) -> int:
        return self.size

    def add(self, store: StoreFacts) -> None:
        """Put ``store`` in the group."""
        if self.counted:
            self._count(store.store_type, store.growth, store.tier_index, store.closeness, 1)
        if self._members is None:
            self.added[store.store_id] = store
        else:
            self._members[store.store_id] = store
        self.size += 1
        self.changed = True

    def remove(self, store: StoreFacts) -> None:
        """Take ``store`` out of the group."""
        if self.counted:
            self._count(store.store_type, store.growth, store.tier_index, store.closeness, -1)
        del self.members[store.store_id]
        self.size -= 1
        self.changed = True

    def _tally(self) -> None:
        # one pass over the members (a few dozen profiles among them), not one per attribute
        if self._members is None:
            assert self._seating is not None
            assert self.seats is not None
            counts = np.bincount(self._seating.profile[self.seats])
            profiles = self._seating.profiles
            tallies = [(profiles[number], int(counts[number])) for number in np.flatnonzero(counts)]
            tallies += [(_PROFILE(store), 1) for store in self.added.values()]
        else:
            tallies = list(Counter(map(_PROFILE, self._members.values())).items())
        for (kind, growth, tier, closeness), count in tallies:
            self._count(kind, growth, _TIER_RANK.get(tier, 3), closeness, count)
        self.counted = True

    def _count(self, kind: str, growth: str, tier: int, closeness: int, step: int) -> None:
        self.types[kind] = self.types.get(kind, 0) + step
        self.growths[growth] = self.growths.get(growth, 0) + step
        self.tiers[tier] += step
        self.closeness[min(max(closeness, 1), 5) - 1] += step

    def distance(self, store: StoreFacts) -> float:
        """Return the mean dissimilarity of ``store`` to the members (0 for an empty group).

        ``store`` is not a member (every caller asks about stores from elsewhere).
        """
        size = self.size
        if size <= 0:
            return 0.0
        if not self.counted:
            self._tally()
        tier = store.tier_index
        close = min(max(store.closeness, 1), 5) - 1
        total = (
            (size - self.types.get(store.store_type, 0))
            + (size - self.growths.get(store.growth, 0))
            + sum(count * abs(index - tier) for index, count in enumerate(self.tiers)) / 3
            + sum(count * abs(index - close) for index, count in enumerate(self.closeness)) / 4
        )
        return total / size


def replan_store_groups(
    stores: Iterable[StoreFacts] | StoreColumns,
    current: Iterable[CurrentGroup],
    new_group_id: Callable[[str], str],
    settings: PlannerSettings | None = None,
    *,
    rebalance: bool = False,
) -> StorePlan:
    """Return the store matrix that changes only what the rules force.

    A store whose data did not change keeps its group unless a size or territory rule moves
    it; a store whose rep changed goes to a group of the new territory; new stores go to the
    most similar group with room, or to new groups; closed stores (absent from ``stores``)
    leave; a territory keeps ceil(n / max) groups, so surplus groups are dissolved into the
    most similar ones, and a group under the minimum takes the most similar stores of its
    territory's other groups. With ``rebalance`` each territory is planned afresh, and the new
    groups take over the ids of the old ones they overlap most. ``new_group_id(rep)`` names a
    new group of that territory. ``stores`` may come as the plan's ``StoreColumns``.
    """
    settings = settings or PlannerSettings()
    columns = stores if isinstance(stores, StoreColumns) else StoreColumns(stores)
    groups_by_rep: dict[str, list[CurrentGroup]] = {}
    for group in sorted(current, key=lambda group: group.group_id):
        groups_by_rep.setdefault(group.territory_rep_id, []).append(group)
    plan = StorePlan({}, [], [])
    if rebalance or not groups_by_rep:
        # a fresh plan is made once for all territories (its cuts depend on the ratio reached
        # over all of them, not on the stores' order)
        fresh = plan_store_groups(columns, settings) if len(columns) else {}
        for rep in sorted(set(fresh) | set(groups_by_rep)):
            existing = groups_by_rep.get(rep, [])
            built = _rebalanced(rep, fresh.get(rep, []), existing, new_group_id)
            for group_id, ordered in built:
                plan.groups[group_id] = (rep, list(map(_STORE_ID, ordered)))
                plan.members[group_id] = ordered
            plan.record(rep, existing, (group_id for group_id, _ in built))
        return plan
    ordered_groups = [group for rep in sorted(groups_by_rep) for group in groups_by_rep[rep]]
    seating = _Seating(columns, ordered_groups)
    plan.columns, plan.regions = columns, columns.territory_regions()
    territories = {rep: index for index, rep in enumerate(seating.reps)}
    unplanned = [
        position
        for rep, index in territories.items()
        if rep not in groups_by_rep
        for position in seating.territory(index).tolist()
    ]
    fresh = plan_store_groups(seating.facts_at(np.array(unplanned, np.int64)), settings)
    number = 0  # the index of each current group in ``ordered_groups``
    for rep in seating.reps:
        existing = groups_by_rep.get(rep, [])
        if not existing:
            for group_id, members in _rebalanced(rep, fresh.get(rep, []), [], new_group_id):
                plan.groups[group_id] = (rep, list(map(_STORE_ID, members)))
                plan.members[group_id] = members
                plan.new_groups.append(group_id)
            continue
        groups = _kept(rep, seating, territories[rep], number, existing, new_group_id, settings)
        number += len(existing)
        for kept in groups:
            seats = kept.seats
            if kept.current is not None and not kept.changed and seats is not None:
                if seating.in_order[kept.current]:  # every seat kept, in store id order
                    ids = list(ordered_groups[kept.current].store_ids)
                    plan.unchanged.add(kept.group_id)
                else:
                    ids = seating.kept_ids(kept.current)
                plan.members[kept.group_id] = partial(seating.facts_at, seats)
                plan.positions[kept.group_id] = seats
            elif kept.current is not None:
                ids = kept.store_ids()
                plan.members[kept.group_id] = partial(_in_order, kept, ids)
            else:
                facts = sorted(kept.members.values(), key=_planner_order)
                ids = list(map(_STORE_ID, facts))
                plan.members[kept.group_id] = facts
            plan.groups[kept.group_id] = (rep, ids)
        plan.record(rep, existing, (kept.group_id for kept in groups))
    return plan


def _in_order(group: _Group, ids: list[str]) -> list[StoreFacts]:
    return list(map(group.members.__getitem__, ids))


def _rebalanced(
    rep: str,
    fresh: list[list[StoreFacts]],
    existing: list[CurrentGroup],
    new_group_id: Callable[[str], str],
) -> list[tuple[str, list[StoreFacts]]]:
    """Return the fresh groups (in planner order), each under the old id it overlaps most."""
    unused = {group.group_id: set(group.store_ids) for group in existing}
    built = []
    for stores in sorted(fresh, key=len, reverse=True):
        match = None
        if unused:
            ids = {store.store_id for store in stores}
            match = max(unused, key=lambda gid: (len(unused[gid] & ids), gid))
            if not unused[match] & ids:
                match = None
        if match is not None:
            del unused[match]
            built.append((match, stores))
        else:
            built.append((new_group_id(rep), stores))
    return built


def _kept(
    rep: str,
    seating: _Seating,
    territory: int,
    first: int,
    existing: list[CurrentGroup],
    new_group_id: Callable[[str], str],
    settings: PlannerSettings,
) -> list[_Group]:
    """Return the groups of a territory that has groups, as the rules force them to change.

    The current groups still seating a store, with the newcomers placed, then any new ones;
    surplus groups dissolved, groups under the minimum filled up. ``first`` is the index of
    ``existing[0]`` among the seating's groups.
    """
    groups = [
        _Group(group.group_id, seating=seating, seats=seats, current=first + offset)
        for offset, group in enumerate(existing)
        if len(seats := seating.seats(first + offset))
    ]
    stores = seating.territory(territory)
    newcomers = sorted(seating.facts_at(stores[seating.seated[stores] < 0]), key=_planner_order)
    high, low = settings.max_members, settings.min_members
    overflow = []
    for store in newcomers:
        room = [group for group in groups if len(group) < high]
        if room:
            min(room, key=lambda group: (group.distance(store), group.group_id)).add(store)
        else:
            overflow.append(store)
    if overflow:
        for members in plan_store_groups(overflow, settings).get(rep, []):
            groups.append(_Group(new_group_id(rep), _by_id(members)))
    target = group_count(len(stores), settings)
    while len(groups) > target:
        smallest = min(groups, key=lambda group: (len(group), group.group_id))
        groups.remove(smallest)
        partner = min(
            (group for group in groups if len(group) + len(smallest) <= high),
            key=lambda group: (_mean_distance(group, smallest), group.group_id),
            default=None,
        )
        for store in sorted(smallest.members.values(), key=_planner_order):
            receiver = partner or min(
                (group for group in groups if len(group) < high),
                key=lambda group: (group.distance(store), group.group_id),
            )
            receiver.add(store)
    if len(stores) >= low:
        for small in [group for group in groups if len(group) < low]:
            while len(small) < low:
                donor_store, donor = min(
                    (
                        (store, group)
                        for group in groups
                        if group is not small and len(group) > low
                        for store in group.members.values()
                    ),
                    key=_closest_first(small),
                )
                donor.remove(donor_store)
                small.add(donor_store)
    return groups


_PROFILE = attrgetter("store_type", "growth", "scale_tier", "closeness")


def _closest_first(group: _Group) -> Callable[[tuple[StoreFacts, _Group]], tuple[float, str]]:
    """Return the sort key of (outside store, its group) pairs: closest to ``group`` first.

    A store outside the group is as far from it as any other of the same profile, so each
    profile's distance is computed once (a territory has thousands of stores, a few dozen
    profiles).
    """
    distances: dict[tuple[str, str, str | None, int], float] = {}

    def key(pair: tuple[StoreFacts, _Group]) -> tuple[float, str]:
        store = pair[0]
        profile = _PROFILE(store)
        distance = distances.get(profile)
        if distance is None:
            distance = distances[profile] = group.distance(store)
        return distance, store.store_id

    return key


def _by_id(stores: Sequence[StoreFacts]) -> dict[str, StoreFacts]:
    return dict(zip(map(_STORE_ID, stores), stores, strict=True))


def _mean_distance(group: _Group, other: _Group) -> float:
    return sum(group.distance(store) for store in other.members.values()) / max(len(other), 1)
