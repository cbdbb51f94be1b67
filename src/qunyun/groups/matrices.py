"""The dealer, consumer and VIP matrices: pure functions from channel facts to keyed groups.

Each group is named by a key that says what it is for (``dealer:t1:440000`` — the tier-1
distributors of 广东; ``dealer:net:DS0001`` — DS0001's network; ``consumer:440100`` — seed
users and KOLs of 广州; ``vip:440000``), so that a re-plan finds the group it made before.
A key with more members than a group holds is served by several groups (chunks); members
stay in their chunk while they belong to the key.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from qunyun.channel.models import ContactKind
from qunyun.groups.models import Matrix, MemberRole
from qunyun.groups.planner import StoreColumns, StoreFacts

Seat = tuple[ContactKind, str, MemberRole]


@dataclass(frozen=True)
class DistributorFacts:
    """What the dealer matrix needs of a distributor."""

    distributor_id: str
    tier: int
    parent_id: str | None
    province_code: str | None


@dataclass(frozen=True)
class ConsumerFacts:
    """What the consumer matrix needs of a consumer (seed users and KOLs only matter)."""

    consumer_id: str
    role: str
    city_code: str
    district_code: str | None
    province_code: str


@dataclass
class KeyedGroup:
    """The members a key wants: customers (split into chunks when many) and staff seats.

    ``staff`` sit in every group of the key; a customer's own staff seat in ``staff_of``
    (a VIP store's rep's superior) sits only in the group that holds the customer.
    """

    key: str
    matrix: Matrix
    region_code: str | None
    label: str
    customers: list[Seat] = field(default_factory=list)
    staff: set[Seat] = field(default_factory=set)
    staff_of: dict[Seat, Seat] = field(default_factory=dict)

    def staff_for(self, members: Iterable[Seat]) -> set[Seat]:
        """Return the staff seats of the key's group that holds ``members``."""
        own = self.staff_of
        return self.staff | {own[seat] for seat in members if seat in own}

    def room(self, max_members: int) -> int:
        """Return how many of the key's customers one of its groups holds.

        The maximum less the customers seated in every group (a network's tier-1 boss).
        """
        return max_members - sum(1 for seat in self.staff if seat[2] in _CUSTOMER_ROLES)


_CUSTOMER_ROLES = (MemberRole.CUSTOMER, MemberRole.KOL)


@dataclass(frozen=True)
class MatrixSettings:
    """Rules of the keyed matrices."""

    max_members: int = 200
    min_members: int = 30
    """A city's district of fewer seed users and KOLs than this joins the city's other ones."""
    district_groups_from: int = 200
    """A city with more seed users and KOLs than this is grouped by district instead."""
    vip_min_closeness: int = 4
    vip_share: float = 0.05
    """Share of a province's active stores (by annual purchase) that make its VIP group."""


def dealer_groups(
    distributors: Iterable[DistributorFacts],
    managers_by_province: Mapping[str, list[str]],
    directors: list[str],
) -> list[KeyedGroup]:
    """Return the dealer matrix.

    One group per province holds its tier-1 distributors with the province's managers and the
    directors (decision makers are members); one group per tier-1 distributor with lower tiers
    holds that network with the tier-1 boss.
    """
    by_id = {d.distributor_id: d for d in distributors}
    groups: dict[str, KeyedGroup] = {}

    def tier_one_of(distributor: DistributorFacts) -> DistributorFacts | None:
        seen = set()
        current: DistributorFacts | None = distributor
        while current is not None and current.tier != 1 and current.distributor_id not in seen:
            seen.add(current.distributor_id)
            current = by_id.get(current.parent_id) if current.parent_id else None
        return current if current is not None and current.tier == 1 else None

    for distributor in sorted(by_id.values(), key=lambda d: d.distributor_id):
        if distributor.tier == 1:
            province = distributor.province_code or "000000"
            group = groups.setdefault(
                f"dealer:t1:{province}",
                KeyedGroup(
                    f"dealer:t1:{province}",
                    Matrix.DEALER,
                    distributor.province_code,
                    "一级经销商群",
                ),
            )
            group.customers.append(
                (ContactKind.DISTRIBUTOR, distributor.distributor_id, MemberRole.CUSTOMER)
            )
            group.staff |= {
                (ContactKind.STAFF, m, MemberRole.MANAGER)
                for m in managers_by_province.get(province, [])
            }
            group.staff |= {(ContactKind.STAFF, d, MemberRole.DIRECTOR) for d in directors}
            continue
        root = tier_one_of(distributor)
        if root is None:
            continue
        key = f"dealer:net:{root.distributor_id}"
        group = groups.setdefault(
            key,
            KeyedGroup(key, Matrix.DEALER, root.province_code, f"{root.distributor_id}分销网络群"),
        )
        group.customers.append(
            (ContactKind.DISTRIBUTOR, distributor.distributor_id, MemberRole.CUSTOMER)
        )
        group.staff.add((ContactKind.DISTRIBUTOR, root.distributor_id, MemberRole.CUSTOMER))
    return [groups[key] for key in sorted(groups)]


def consumer_groups(
    consumers: Iterable[ConsumerFacts],
    managers_by_province: Mapping[str, list[str]],
    settings: MatrixSettings,
) -> list[KeyedGroup]:
    """Return seed users and KOLs by city, or by district where a city has many.

    In a city grouped by district, a district under ``min_members`` joins the city's group of
    the rest (``consumer:<city>``), and that rest, when itself under the minimum, joins the
    city's smallest district. KOLs are then spread over the city's keys so that each key has
    one per group it needs while the city has KOLs to spare: a key short of KOLs takes the
    highest-numbered KOL of the key with the most to spare (one above the minimum).
    """
    by_city: dict[str, list[ConsumerFacts]] = defaultdict(list)
    for consumer in sorted(consumers, key=lambda c: c.consumer_id):
        if consumer.role in ("seed", "kol"):
            by_city[consumer.city_code].append(consumer)
    groups: list[KeyedGroup] = []
    for city, members in by_city.items():
        places: dict[str, list[ConsumerFacts]] = defaultdict(list)
        if len(members) > settings.district_groups_from:
            for consumer in members:
                places[consumer.district_code or city].append(consumer)
            for place in sorted(places):
                if place != city and len(places[place]) < settings.min_members:
                    places[city] += places.pop(place)
            districts = sorted(p for p in places if p != city)
            if city in places and len(places[city]) < settings.min_members and districts:
                smallest = min(districts, key=lambda p: (len(places[p]), p))
                places[smallest] += places.pop(city)
        else:
            places[city] = members
        _spread_kols(places, settings.max_members, settings.min_members)
        managers = managers_by_province.get(members[0].province_code, [])
        for place in places:
            group = KeyedGroup(f"consumer:{place}", Matrix.CONSUMER, place, "种子用户群")
            group.customers = [
                (
                    ContactKind.CONSUMER,
                    consumer.consumer_id,
                    MemberRole.KOL if consumer.role == "kol" else MemberRole.CUSTOMER,
                )
                for consumer in sorted(places[place], key=lambda c: c.consumer_id)
            ]
            group.staff = {(ContactKind.STAFF, m, MemberRole.MANAGER) for m in managers}
            groups.append(group)
    return sorted(groups, key=lambda g: g.key)


def _spread_kols(
    places: dict[str, list[ConsumerFacts]], max_members: int, min_members: int
) -> None:
    """Move KOLs between a city's keys until none lacks one per group while another spares.

    A key spares a KOL when it has more than its groups need and stays above
    ``min_members`` without it.
    """

    def kols(place: str) -> list[ConsumerFacts]:
        return [c for c in places[place] if c.role == "kol"]

    def spare(place: str) -> int:
        return len(kols(place)) - -(-len(places[place]) // max_members)

    for _ in range(sum(len(kols(place)) for place in places)):  # each move fills a gap
        short = [p for p in sorted(places) if spare(p) < 0]
        donors = [p for p in sorted(places) if spare(p) > 0 and len(places[p]) > min_members]
        if not short or not donors:
            return
        taker = min(short, key=lambda p: (spare(p), p))
        giver = max(donors, key=lambda p: (spare(p), p))
        kol = max(kols(giver), key=lambda c: c.consumer_id)
        places[giver].remove(kol)
        places[taker].append(kol)


def vip_groups(
    stores: Iterable[StoreFacts] | StoreColumns,
    settings: MatrixSettings,
    candidates: Collection[str] | None = None,
    *,
    province_of: Mapping[str | None, str],
    superior_of: Mapping[str, Seat | None],
) -> list[KeyedGroup]:
    """Return per province the most valuable close stores, each with its rep's superior.

    A store's rep's superior (the rep's manager, seated in the role of their own staff role:
    a supervisor as ``supervisor``, a manager as ``manager``, as store groups seat the chain)
    sits in the VIP group that holds the store, not in the province's other VIP groups: a
    group's staff are those of its own stores.

    ``province_of`` maps each store's region to its province, ``superior_of`` each rep to
    their superior's seat (None where there is nobody to seat). ``candidates`` (the VIP
    candidates measured in the event lake, already per province and within the quota) replace
    the rule of purchase and closeness in every province that has one; a province without a
    candidate keeps the rule. Stores are ranked by annual purchase, then store id. ``stores``
    may come as the plan's ``StoreColumns``.
    """
    columns = stores if isinstance(stores, StoreColumns) else StoreColumns(stores)
    # every store's province, closeness and purchase as arrays (positions in store id order)
    names = sorted({province_of[region] for region in columns.regions})
    number = {province: index for index, province in enumerate(names)}
    region_province = np.array(
        [number[province_of[region]] for region in columns.regions], dtype=np.int64
    )
    of_province = region_province[columns.region] if len(columns) else region_province
    sizes = np.bincount(of_province, minlength=len(names))
    purchase = columns.purchase
    provinces = np.arange(len(names) + 1)

    def best(wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the wanted stores per province by purchase, then store id, and the starts."""
        at = np.flatnonzero(wanted)
        ranked = at[np.lexsort((at, -purchase[at], of_province[at]))]
        return ranked, np.searchsorted(of_province[ranked], provinces)

    by_rule = best(columns.closeness >= settings.vip_min_closeness)
    by_lake = None
    if candidates:
        wanted = map(candidates.__contains__, columns.ids)
        by_lake = best(np.fromiter(wanted, bool, len(columns)))
    groups = []
    for province, index in number.items():
        picked = np.empty(0, dtype=np.int64)
        if by_lake is not None:
            ranked, starts = by_lake
            picked = ranked[starts[index] : starts[index + 1]]
        if not len(picked):
            quota = max(1, round(int(sizes[index]) * settings.vip_share))
            ranked, starts = by_rule
            picked = ranked[starts[index] : min(starts[index] + quota, starts[index + 1])]
        chosen = columns.facts_at(picked)
        if not chosen:
            continue
        group = KeyedGroup(f"vip:{province}", Matrix.VIP, province, "VIP门店群")
        group.customers = [(ContactKind.STORE, s.store_id, MemberRole.CUSTOMER) for s in chosen]
        group.staff_of = {
            seat: superior
            for seat, superior in zip(
                group.customers, map(superior_of.get, map(_REP_ID, chosen)), strict=True
            )
            if superior
        }
        groups.append(group)
    return groups


_STORE_ID, _REP_ID, _REGION, _CLOSENESS, _PURCHASE = map(
    attrgetter, ("store_id", "rep_id", "region_code", "closeness", "annual_purchase_fen")
)


def chunk(
    wanted: KeyedGroup,
    existing: Mapping[str, set[Seat]],
    new_group_id: Callable[[], str],
    max_members: int,
) -> dict[str, list[Seat]]:
    """Return the groups serving a key: existing ones keep their members, others fill up.

    ``existing`` maps the key's current group ids to their current customers. A key keeps
    ceil(members / max) groups: when it shrinks, its smallest groups are dissolved into the
    others. KOLs are placed first, each to the group with the fewest KOLs, so that KOLs spread.
    """
    members = dict.fromkeys(wanted.customers)
    assigned: dict[str, list[Seat]] = {}
    placed: set[Seat] = set()
    for group_id in sorted(existing):
        keep = [
            seat for seat in sorted(existing[group_id]) if seat in members and seat not in placed
        ]
        if keep:
            assigned[group_id] = keep[:max_members]
            placed.update(assigned[group_id])
    needed = -(-len(members) // max_members) if members else 0
    while len(assigned) > needed:  # the key shrank: dissolve the smallest group into the others
        smallest = min(assigned, key=lambda gid: (len(assigned[gid]), gid))
        placed.difference_update(assigned.pop(smallest))
    rest = [seat for seat in wanted.customers if seat not in placed]
    rest.sort(key=lambda seat: (seat[2] is not MemberRole.KOL, seat[1]))
    while len(assigned) < needed:
        assigned[new_group_id()] = []
    kols = {gid: sum(1 for s in seats if s[2] is MemberRole.KOL) for gid, seats in assigned.items()}
    for phase_is_kol in (True, False):
        # the group with room that has the fewest KOLs (for a KOL), then the fewest members
        heap = [
            (kols[gid] if phase_is_kol else 0, len(seats), gid)
            for gid, seats in assigned.items()
            if len(seats) < max_members
        ]
        heapq.heapify(heap)
        for seat in (s for s in rest if (s[2] is MemberRole.KOL) is phase_is_kol):
            if not heap:
                gid = new_group_id()
                assigned[gid], kols[gid] = [], 0
                heap = [(0, 0, gid)]
            kol_count, size, gid = heapq.heappop(heap)
            assigned[gid].append(seat)
            kols[gid] += phase_is_kol
            if size + 1 < max_members:
                heapq.heappush(heap, (kol_count + phase_is_kol, size + 1, gid))
    return {gid: seats for gid, seats in assigned.items() if seats}
