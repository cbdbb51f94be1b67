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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

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


_TIER_DISTANCE = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
_CLOSENESS_DISTANCE = np.abs(np.subtract.outer(np.arange(5), np.arange(5)))


class _Territory:
    """One territory in planner order, with prefix counts so that any range costs O(1).

    Ranges are costed with numpy, all starts of one end at a time; the costs do not depend on
    the trial ratio, so they are computed once and reused by every Dinkelbach round.
    """

    def __init__(self, stores: Sequence[StoreFacts], settings: PlannerSettings) -> None:
        self.stores = sorted(stores, key=_planner_order)
        self.size = len(self.stores)
        self.groups = group_count(self.size, settings)
        self.settings = settings
        self._layer_costs: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
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
    def _prefix(values: Sequence[int], width: int) -> np.ndarray:
        table = np.zeros((len(values) + 1, max(width, 1)), dtype=np.int64)
        if values:
            table[np.arange(1, len(values) + 1), values] = 1
        return np.cumsum(table, axis=0)

    def block(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (summed pairwise dissimilarity, pairs) of stores[s:e] for every (e, s)."""
        sizes = ends[:, None] - starts[None, :]
        pairs = sizes * (sizes - 1) // 2
        total = np.zeros(sizes.shape)
        for prefix in (self.type_prefix, self.growth_prefix):
            counts = prefix[ends][:, None, :] - prefix[starts][None, :, :]
            total += pairs - (counts * (counts - 1) // 2).sum(axis=2)
        for prefix, distance, weight in (
            (self.tier_prefix, _TIER_DISTANCE, 3),
            (self.closeness_prefix, _CLOSENESS_DISTANCE, 4),
        ):
            counts = prefix[ends][:, None, :] - prefix[starts][None, :, :]
            total += ((counts @ distance) * counts).sum(axis=2) / (2 * weight)
        return total, pairs

    def _layers(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Return per group: first boundary, costs, pairs and feasibility over (end, start)."""
        if self._layer_costs:
            return self._layer_costs
        n, k = self.size, self.groups
        low, high = self.settings.min_members, self.settings.max_members
        starts = np.arange(1)
        for group in range(1, k + 1):
            # a boundary after `group` groups leaves room for the groups still to come
            first = max(group * low, n - (k - group) * high)
            last = min(group * high, n - (k - group) * low)
            ends = np.arange(first, last + 1)
            cost, pairs = self.block(starts, ends)
            sizes = ends[:, None] - starts[None, :]
            feasible = (sizes >= low) & (sizes <= high)
            self._layer_costs.append((first, cost, pairs, feasible))
            starts = ends
        return self._layer_costs

    def cuts(self, ratio: float) -> list[int]:
        """Return group boundaries minimising Σ(cost − ratio·pairs) over feasible cuts."""
        n, k = self.size, self.groups
        if k <= 1:
            return [0, n]
        previous = np.zeros(1)  # best value of a boundary at each position of the last layer
        previous_first = 0
        choices: list[tuple[int, np.ndarray]] = []
        for first, cost, pairs, feasible in self._layers():
            candidates = np.where(feasible, previous[None, :] + cost - ratio * pairs, np.inf)
            best = np.argmin(candidates, axis=1)
            previous = candidates[np.arange(len(best)), best]
            choices.append((previous_first, best))
            previous_first = first
        boundaries = [n]
        for (start_of_previous, best), (first, *_rest) in zip(
            reversed(choices), reversed(self._layers()), strict=True
        ):
            boundaries.append(start_of_previous + int(best[boundaries[-1] - first]))
        return boundaries[::-1]

    def cost(self, start: int, end: int) -> tuple[float, int]:
        """Return (summed pairwise dissimilarity, pairs) of stores[start:end]."""
        total, pairs = self.block(np.array([start]), np.array([end]))
        return float(total[0, 0]), int(pairs[0, 0])

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

    ``groups`` holds kept and new groups (members in planner order); ``new_groups`` the ids
    created; ``archived`` the existing groups left without members.
    """

    groups: dict[str, tuple[str, list[str]]]
    new_groups: list[str]
    archived: list[str]


class _Group:
    """A group under construction, with attribute counts for O(1) similarity."""

    def __init__(self, group_id: str, members: Iterable[StoreFacts] = ()) -> None:
        self.group_id = group_id
        self.members: dict[str, StoreFacts] = {}
        self.types: dict[str, int] = {}
        self.growths: dict[str, int] = {}
        self.tiers = [0] * 4
        self.closeness = [0] * 5
        for store in members:
            self.add(store)

    def __len__(self) -> int:
        return len(self.members)

    def add(self, store: StoreFacts) -> None:
        """Put ``store`` in the group."""
        self._count(store, 1)
        self.members[store.store_id] = store

    def remove(self, store: StoreFacts) -> None:
        """Take ``store`` out of the group."""
        self._count(store, -1)
        del self.members[store.store_id]

    def _count(self, store: StoreFacts, step: int) -> None:
        self.types[store.store_type] = self.types.get(store.store_type, 0) + step
        self.growths[store.growth] = self.growths.get(store.growth, 0) + step
        self.tiers[store.tier_index] += step
        self.closeness[min(max(store.closeness, 1), 5) - 1] += step

    def distance(self, store: StoreFacts) -> float:
        """Return the mean dissimilarity of ``store`` to the members (0 for an empty group)."""
        size = len(self.members) - (store.store_id in self.members)
        if size <= 0:
            return 0.0
        inside = store.store_id in self.members
        tier = store.tier_index
        close = min(max(store.closeness, 1), 5) - 1
        total = (
            (size - self.types.get(store.store_type, 0) + inside)
            + (size - self.growths.get(store.growth, 0) + inside)
            + sum(count * abs(index - tier) for index, count in enumerate(self.tiers)) / 3
            + sum(count * abs(index - close) for index, count in enumerate(self.closeness)) / 4
        )
        return total / size


def replan_store_groups(
    stores: Iterable[StoreFacts],
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
    new group of that territory.
    """
    settings = settings or PlannerSettings()
    by_rep = territories(stores)
    groups_by_rep: dict[str, list[CurrentGroup]] = {}
    for group in sorted(current, key=lambda group: group.group_id):
        groups_by_rep.setdefault(group.territory_rep_id, []).append(group)
    plan = StorePlan({}, [], [])
    # a fresh plan is made once for all territories (its cuts depend on the ratio reached over
    # all of them): when rebalancing, and for territories without any group yet
    unplanned = [
        s
        for rep, members in by_rep.items()
        if rebalance or rep not in groups_by_rep
        for s in members
    ]
    fresh = plan_store_groups(unplanned, settings) if unplanned else {}
    for rep in sorted(set(by_rep) | set(groups_by_rep)):
        members = by_rep.get(rep, [])
        existing = groups_by_rep.get(rep, [])
        if rebalance or not existing:
            built = _rebalanced(rep, fresh.get(rep, []), existing, new_group_id)
        else:
            built = _kept(rep, members, existing, new_group_id, settings)
        kept_ids = {group.group_id for group in existing}
        for result in built:
            order = sorted(result.members.values(), key=_planner_order)
            plan.groups[result.group_id] = (rep, [store.store_id for store in order])
            if result.group_id not in kept_ids:
                plan.new_groups.append(result.group_id)
        built_ids = {group.group_id for group in built}
        plan.archived.extend(
            group.group_id for group in existing if group.group_id not in built_ids
        )
    return plan


def _rebalanced(
    rep: str,
    fresh: list[list[StoreFacts]],
    existing: list[CurrentGroup],
    new_group_id: Callable[[str], str],
) -> list[_Group]:
    unused = {group.group_id: set(group.store_ids) for group in existing}
    built = []
    for stores in sorted(fresh, key=len, reverse=True):
        ids = {store.store_id for store in stores}
        match = max(unused, key=lambda gid: (len(unused[gid] & ids), gid), default=None)
        if match is not None and unused[match] & ids:
            del unused[match]
            built.append(_Group(match, stores))
        else:
            built.append(_Group(new_group_id(rep), stores))
    return built


def _kept(
    rep: str,
    members: list[StoreFacts],
    existing: list[CurrentGroup],
    new_group_id: Callable[[str], str],
    settings: PlannerSettings,
) -> list[_Group]:
    facts = {store.store_id: store for store in members}
    groups = [
        _Group(group.group_id, (facts[sid] for sid in group.store_ids if sid in facts))
        for group in existing
    ]
    groups = [group for group in groups if len(group)]
    placed = {sid for group in groups for sid in group.members}
    newcomers = sorted((s for s in members if s.store_id not in placed), key=_planner_order)
    high, low = settings.max_members, settings.min_members
    overflow = []
    for store in newcomers:
        room = [group for group in groups if len(group) < high]
        if room:
            min(room, key=lambda group: (group.distance(store), group.group_id)).add(store)
        else:
            overflow.append(store)
    if overflow:
        for stores in plan_store_groups(overflow, settings).get(rep, []):
            groups.append(_Group(new_group_id(rep), stores))
    target = group_count(len(members), settings)
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
    if len(members) >= low:
        for small in [group for group in groups if len(group) < low]:
            while len(small) < low:
                donor_store, donor = min(
                    (
                        (store, group)
                        for group in groups
                        if group is not small and len(group) > low
                        for store in group.members.values()
                    ),
                    key=lambda pair: (small.distance(pair[0]), pair[0].store_id),
                )
                donor.remove(donor_store)
                small.add(donor_store)
    return groups


def _mean_distance(group: _Group, other: _Group) -> float:
    return sum(group.distance(store) for store in other.members.values()) / max(len(other), 1)
