"""Compute, store and apply plan revisions of the four matrices; export memberships.

``do_compute_plan`` reads the channel, re-plans the store groups against the groups that exist
(``planner.replan_store_groups``) and the dealer, consumer and VIP groups by their plan keys
(``matrices``), seats the staff (in store groups the serving rep and the two levels above; a
group admin of the province everywhere), and stores the difference as a pending revision.
``do_apply_plan`` carries a pending revision out in the caller's transaction, refusing when
the channel changed since it was computed.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, partial
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from qunyun.channel.models import (
    STORE_TYPE_LABELS,
    Consumer,
    ContactKind,
    Distributor,
    Store,
    StoreStatus,
    StoreType,
)
from qunyun.core.bulk import BulkWriter, driver_rows, paused_gc
from qunyun.core.clock import utcnow
from qunyun.core.db import refresh_statistics
from qunyun.core.errors import Conflict, NotFound
from qunyun.core.settings import get_settings
from qunyun.groups.figures import (
    Mark,
    coverage_marks,
    refresh_coverage,
    refresh_member_counts,
    refresh_store_coverage,
)
from qunyun.groups.matrices import (
    ConsumerFacts,
    DistributorFacts,
    MatrixSettings,
    chunk,
    consumer_groups,
    dealer_groups,
    vip_groups,
)
from qunyun.groups.models import (
    ChangeKind,
    Group,
    Matrix,
    MemberRole,
    Membership,
    PlanChange,
    PlanRevision,
    RevisionStatus,
)
from qunyun.groups.planner import (
    CurrentGroup,
    PlannerSettings,
    StoreColumns,
    StoreFacts,
    replan_store_groups,
)
from qunyun.groups.queries import plan_changes
from qunyun.org.models import Staff, StaffRole, Tenant
from qunyun.org.regions import catalogue

if TYPE_CHECKING:
    from qunyun.analytics.vip import StoreValue

SEAT_ROLES = {
    StaffRole.DIRECTOR: MemberRole.DIRECTOR,
    StaffRole.MANAGER: MemberRole.MANAGER,
    StaffRole.SUPERVISOR: MemberRole.SUPERVISOR,
    StaffRole.REP: MemberRole.REP,
    StaffRole.GROUP_ADMIN: MemberRole.ADMIN,
}
"""The seat a staff member takes in a group, by their role (group admins sit as ``admin``)."""

GROUP_ID_PREFIXES = {
    Matrix.STORE: "SG",
    Matrix.DEALER: "DG",
    Matrix.CONSUMER: "CG",
    Matrix.VIP: "VG",
}


@dataclass(frozen=True)
class PlanRules:
    """The tunable rules of a plan (settings ``QUNYUN_GROUP_*``, ``QUNYUN_ADMIN_MAX_GROUPS`` …)."""

    planner: PlannerSettings = field(default_factory=PlannerSettings)
    matrices: MatrixSettings = field(default_factory=MatrixSettings)
    store_group_name: str = "{place}·{store_type}{tier}类·{rep_name}服务群 {number:02d}"
    admin_max_groups: int = 100
    vip_in_base_group: bool = True

    @classmethod
    def from_settings(cls) -> PlanRules:
        """Return the rules the process settings give."""
        settings = get_settings()
        return cls(
            PlannerSettings(settings.group_max_members, settings.group_min_members),
            MatrixSettings(
                max_members=settings.group_max_members, min_members=settings.group_min_members
            ),
            settings.store_group_name,
            settings.admin_max_groups,
            settings.vip_in_base_group,
        )


Seat = tuple[ContactKind, str, MemberRole]


@dataclass
class PlanSummary:
    """What a plan changes, per matrix and province; and the dead groups it advises on.

    ``rows`` count per (matrix, province name): ``groups_created``, ``groups_archived`` and,
    of those archived, ``groups_merged`` — an archived group at least one of whose customers
    (stores, distributors, seed users, KOLs) joins another group of the same territory (store
    groups: the same serving rep) or the same plan key (the other matrices) in the same
    revision: the group was merged into its siblings, not dissolved; ``members_added`` and
    ``members_removed`` (customers joining and leaving groups), of the added
    ``members_moved`` (customers who leave one group and join another), and
    ``staff_seats_added`` / ``staff_seats_removed``.

    ``dead_groups`` (group id, matrix, province name) are open groups where no customer spoke
    in the 90 days up to the lake's last day (僵尸群): candidates to merge or archive, which
    the plan itself leaves alone. ``vip_from_lake`` says whether the VIP matrix came from the
    VIP candidates of the event lake (else from purchase and closeness).
    """

    revision_id: int
    rows: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    dead_groups: list[tuple[str, str, str]] = field(default_factory=list)
    vip_from_lake: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    """Where the time went: ``read`` (the channel and the lake's signals, and the first import
    of the lake's stack), ``compute`` (the planning computation: matrices, staff seats, the
    diff) and ``write`` (the revision)."""

    def as_json(self) -> str:
        """Return the summary as JSON text (stored with the revision).

        A row lists ``dead_groups`` and ``dead_group_ids`` only when its matrix and province
        have dead groups.
        """
        dead: dict[tuple[str, str], list[str]] = defaultdict(list)
        for group_id, matrix, region in self.dead_groups:
            dead[(matrix, region)].append(group_id)
        rows = []
        for key in sorted(self.rows.keys() | dead.keys()):
            row: dict[str, Any] = {"matrix": key[0], "region": key[1], **self.rows.get(key, {})}
            if key in dead:
                row |= {"dead_groups": len(dead[key]), "dead_group_ids": sorted(dead[key])}
            rows.append(row)
        return json.dumps(rows, ensure_ascii=False)

    def totals(self) -> Counter[str]:
        """Return the counts over all matrices and regions."""
        total: Counter[str] = Counter()
        for counts in self.rows.values():
            total.update(counts)
        return total


@dataclass
class _Channel:
    stores: list[StoreFacts]
    """The active stores, in store id order."""
    columns: StoreColumns
    """The same stores' attributes as arrays (the re-plan's and the VIP matrix's)."""
    provinces: dict[str | None, str]
    """The province of every region that has active stores ('' for a region without one)."""
    staff: dict[str, Staff]
    groups: dict[str, Group]
    store_seats: dict[str, list[str]]
    """The stores sitting as customers in each open group, in store id order."""
    seats: dict[str, set[Seat]]
    """Every other open seat of each open group."""
    distributors: list[DistributorFacts]
    consumers: list[ConsumerFacts]
    fingerprint: str

    def store_groups(self) -> dict[str, Group]:
        """Return the open groups of the store matrix."""
        return {gid: g for gid, g in self.groups.items() if g.matrix is Matrix.STORE}

    def seats_of(self, group_id: str) -> set[Seat]:
        """Return every open seat of a group, its store customers included."""
        seats = set(self.seats.get(group_id, ()))
        seats.update(
            (ContactKind.STORE, sid, MemberRole.CUSTOMER)
            for sid in self.store_seats.get(group_id, ())
        )
        return seats

    @cached_property
    def superiors(self) -> dict[str, Seat | None]:
        """Return each staff member's superior's seat, None where nobody is to sit."""
        staff = self.staff
        return {staff_id: superior_seat(staff, staff_id) for staff_id in staff}


_REGION = attrgetter("region_code")
_TERRITORY_REGION = attrgetter("rep_id", "region_code")
_STORE_CUSTOMER = (ContactKind.STORE.value, MemberRole.CUSTOMER.value)
_KINDS = {kind.value: kind for kind in ContactKind}
_ROLES = {role.value: role for role in MemberRole}
_AS_STORE_FACTS = partial(tuple.__new__, StoreFacts)
"""Make a ``StoreFacts`` of a row of its eight columns without a Python call per row."""


# The plan's big reads, answered from covering indexes (migration 0009): every active store
# (the columns of ``StoreFacts``), the store customers' stays per group, every other open stay.
ACTIVE_STORES_SQL = (
    "SELECT store_id, rep_id, store_type, scale_tier, closeness, growth, region_code, "
    "COALESCE(annual_purchase_fen, 0) FROM stores WHERE tenant_id = ? AND status = ? "
    "ORDER BY store_id"
)
STORE_SEATS_SQL = (
    "SELECT group_id, {joined} FROM memberships "
    "WHERE tenant_id = ? AND left_at IS NULL AND member_kind = ? AND role = ? GROUP BY group_id"
)
OTHER_SEATS_SQL = (
    "SELECT group_id, member_kind, role, member_id FROM memberships "
    "WHERE tenant_id = ? AND left_at IS NULL AND NOT (member_kind = ? AND role = ?)"
)


def _read_channel(session: Session, tenant: Tenant) -> _Channel:
    """Read what a plan depends on: stores, staff, distributors, seed consumers, groups, seats.

    The two big reads (every active store, every open seat: millions of rows for a national
    brand) go through the driver as plain tuples; SQLAlchemy's per-row result processing
    would cost more than the plan itself. A store row is its ``StoreFacts`` as it comes; the
    store customers' seats are kept as plain ids per group, sorted. Both reads are answered
    from covering indexes (``ix_stores_plan_facts``, ``ix_memberships_open_seats``).
    """
    session.flush()  # the driver reads below do not flush pending objects themselves
    connection = session.connection()
    staff = {
        person.staff_id: person
        for person in session.scalars(
            select(Staff).where(Staff.tenant_id == tenant.id).order_by(Staff.staff_id)
        )
    }
    stores = list(
        map(
            _AS_STORE_FACTS,
            driver_rows(
                connection,
                ACTIVE_STORES_SQL,
                (tenant.id, StoreStatus.ACTIVE.value),
            ),
        )
    )
    columns = StoreColumns(stores)
    provinces = {region: _province(region) or "" for region in columns.regions}
    distributors = [
        DistributorFacts(did, tier, parent, _province(region))
        for did, tier, parent, region in session.execute(
            select(
                Distributor.distributor_id,
                Distributor.tier,
                Distributor.parent_id,
                Distributor.region_code,
            )
            .where(Distributor.tenant_id == tenant.id)
            .order_by(Distributor.distributor_id)
        )
    ]
    consumers = []
    for cid, consumer_role, region in session.execute(
        select(Consumer.consumer_id, Consumer.role, Consumer.region_code)
        .where(Consumer.tenant_id == tenant.id, Consumer.role.in_(("seed", "kol")))
        .order_by(Consumer.consumer_id)
    ):
        place = catalogue().by_code[region]
        city = place.parent_code if place.level == "district" and place.parent_code else place.code
        district = place.code if place.level == "district" else None
        consumers.append(
            ConsumerFacts(cid, str(consumer_role), city, district, place.province_code)
        )
    groups = {
        group.group_id: group
        for group in session.scalars(
            select(Group)
            .where(Group.tenant_id == tenant.id, Group.archived_at.is_(None))
            .order_by(Group.group_id)
        )
    }
    # the store customers' stays (millions) come one row per group, their ids joined by the
    # database (ids never hold control characters: the import refuses them); every other open
    # stay (staff seats, distributors, consumers: a few per group) one row each
    store_seats: dict[str, list[str]] = {}
    for group_id, joined in driver_rows(
        connection,
        STORE_SEATS_SQL.format(joined=joined_ids(connection)),
        (tenant.id, *_STORE_CUSTOMER),
    ):
        if group_id in groups:
            ids = store_seats[group_id] = joined.split("\n")
            ids.sort()  # the database's order need not be Python's
    seats: dict[str, set[Seat]] = defaultdict(set)
    kinds, roles = _KINDS, _ROLES
    for group_id, kind, role, member_id in driver_rows(
        connection,
        OTHER_SEATS_SQL,
        (tenant.id, *_STORE_CUSTOMER),
    ):
        if group_id in groups:
            seats[group_id].add((kinds[kind], member_id, roles[role]))
    return _Channel(
        columns.stores,
        columns,
        provinces,
        staff,
        groups,
        store_seats,
        seats,
        distributors,
        consumers,
        channel_watermark(session, tenant),
    )


def joined_ids(connection: Connection) -> str:
    """Return the SQL aggregate joining a group's member ids with newlines."""
    if connection.dialect.name == "postgresql":
        return "string_agg(member_id, E'\\n')"
    return "group_concat(member_id, char(10))"


def channel_watermark(session: Session, tenant: Tenant) -> str:
    """Return a fingerprint that changes whenever the channel or the groups change.

    Row counts and the latest change times of stores, staff, distributors, consumers and
    groups, and the counts of all and of open stays with the newest stay's id: every write
    bumps ``updated_at``, opens a stay (a new id) or closes one (one fewer open), creates or
    archives a group, so a few aggregate queries stand in for reading every row.

    Each count and maximum is a query of its own: alone, a maximum is one step down an index
    (``ix_stores_changes``, ``ix_consumers_changes``, the primary key of the stays) and a count
    a scan of the smallest index, where together they would read every row.
    """

    def count_and_latest(table: Any, column: Any, *where: Any) -> list[object]:
        return list(
            session.execute(
                select(
                    select(func.count()).select_from(table).where(*where).scalar_subquery(),
                    select(func.max(column)).where(*where).scalar_subquery(),
                )
            ).one()
        )

    parts: list[object] = []
    for model in (Store, Staff, Distributor, Consumer):
        parts.extend(count_and_latest(model, model.updated_at, model.tenant_id == tenant.id))
    parts.extend(
        session.execute(
            select(func.count(), func.max(Group.created_at), func.max(Group.archived_at)).where(
                Group.tenant_id == tenant.id
            )
        ).one()
    )
    parts.extend(count_and_latest(Membership, Membership.id, Membership.tenant_id == tenant.id))
    parts.append(
        session.scalar(
            select(func.count()).where(
                Membership.tenant_id == tenant.id, Membership.left_at.is_(None)
            )
        )
    )
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _group_ids(session: Session, tenant: Tenant, prefix: str) -> Iterator[str]:
    taken = session.scalars(
        select(Group.group_id).where(
            Group.tenant_id == tenant.id, Group.group_id.like(f"{prefix}%")
        )
    ).all()
    numbers = [int(gid[len(prefix) :]) for gid in taken if gid[len(prefix) :].isdigit()]
    for number in itertools.count(max(numbers, default=0) + 1):
        yield f"{prefix}{number:06d}"


def superior_seat(staff: Mapping[str, Staff], person_id: str) -> Seat | None:
    """Return the seat of a person's manager in the role of their staff role (as in the chain).

    None when the person or their manager is unknown, or the manager left (nobody to seat).
    """
    person = staff.get(person_id)
    superior = staff.get(person.manager_id) if person and person.manager_id else None
    if superior is None or not superior.is_active:
        return None
    return (ContactKind.STAFF, superior.staff_id, SEAT_ROLES[superior.role])


def chain_seats(staff: Mapping[str, Staff], rep_id: str) -> set[Seat]:
    """Return the seats of the serving rep and the two levels above (those still employed)."""
    seats: set[Seat] = set()
    person: Staff | None = staff.get(rep_id)
    for _ in range(3):  # the rep, then two levels above
        if person is None:
            break
        if person.is_active:
            seats.add((ContactKind.STAFF, person.staff_id, SEAT_ROLES[person.role]))
        person = staff.get(person.manager_id) if person.manager_id else None
    return seats


@cache
def _province(region_code: str | None) -> str | None:
    return catalogue().by_code[region_code].province_code if region_code else None


_TYPE_AND_TIER = attrgetter("store_type", "scale_tier")


def _name(
    channel: _Channel,
    rep_id: str,
    members: list[StoreFacts],
    places: Counter[str],
    number: int,
    template: str,
) -> str:
    """Return a new store group's name; ``places`` counts its stores per region."""
    profiles = Counter(map(_TYPE_AND_TIER, members))
    kinds: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    for (kind, tier), count in profiles.items():  # first seen first, as counting one by one
        kinds[kind] += count
        tiers[tier or "D"] += count
    region = catalogue().by_code[places.most_common(1)[0][0]]
    path = catalogue().path(region.code)
    place = "".join(
        dict.fromkeys(part.name.removesuffix("市").removesuffix("区") for part in path[1:])
    )
    rep = channel.staff.get(rep_id)
    return template.format(
        place=place,
        rep_id=rep_id,
        store_type=STORE_TYPE_LABELS[StoreType(kinds.most_common(1)[0][0])],
        tier=tiers.most_common(1)[0][0],
        rep_name=rep.name if rep else rep_id,
        number=number,
    )


@dataclass
class _Desired:
    """A group as the plan wants it."""

    group_id: str
    matrix: Matrix
    territory_rep_id: str | None
    province: str | None
    plan_key: str | None
    name: str
    seats: set[Seat]
    """The seats wanted; of a store group, its staff seats only (see ``store_ids``)."""
    store_ids: list[str] | None = None
    """A store group's customers, or None when they stay exactly as they are."""


def _planned(group: Group) -> bool:
    """Return whether the planner owns the group (store groups, or keyed groups it made)."""
    return group.matrix is Matrix.STORE or group.plan_key is not None


def _seat_changes(base: dict[str, Any], seats: set[Seat], kind: ChangeKind) -> list[dict[str, Any]]:
    """Return one change per member kind and role, listing the members."""
    grouped: dict[tuple[ContactKind, MemberRole], list[str]] = defaultdict(list)
    for member_kind, member_id, role in seats:
        grouped[(member_kind, role)].append(member_id)
    return [
        {
            **base,
            "kind": kind,
            "member_kind": member_kind,
            "member_role": role,
            "member_ids": sorted(ids),
        }
        for (member_kind, role), ids in sorted(grouped.items())
    ]


def _customer_change(
    base: dict[str, Any], store_ids: Collection[str], kind: ChangeKind
) -> list[dict[str, Any]]:
    """Return the change of store customers leaving or joining a group, if any."""
    if not store_ids:
        return []
    return [
        {
            **base,
            "kind": kind,
            "member_kind": ContactKind.STORE,
            "member_role": MemberRole.CUSTOMER,
            "member_ids": sorted(store_ids),
        }
    ]


def _store_desired(
    session: Session,
    tenant: Tenant,
    channel: _Channel,
    rules: PlanRules,
    rebalance: bool,
    outside: set[str],
) -> list[_Desired]:
    """Return the store groups; stores in ``outside`` (VIP stores kept apart) are left out."""
    current = [
        CurrentGroup(gid, group.territory_rep_id or "", tuple(channel.store_seats.get(gid, ())))
        for gid, group in channel.store_groups().items()
    ]
    ids = _group_ids(session, tenant, GROUP_ID_PREFIXES[Matrix.STORE])
    stores = [s for s in channel.stores if s.store_id not in outside] if outside else channel.stores
    plan = replan_store_groups(
        StoreColumns(stores) if outside else channel.columns,
        current,
        lambda rep: next(ids),
        rules.planner,
        rebalance=rebalance,
    )
    # a new group is numbered after its territory's kept groups, skipping the names they have
    # (their numbers need not run 1..count: 01 and 03 stay when 02 is dissolved)
    numbers: Counter[str] = Counter()
    taken: dict[str, set[str]] = defaultdict(set)
    for gid, (rep, _) in plan.groups.items():
        if gid in channel.groups:
            numbers[rep] += 1
            taken[rep].add(channel.groups[gid].name)
    desired = []
    # the province of a group is its stores' most common one; a territory in one province
    # (nearly all) gives it without counting
    territory_provinces: dict[str, set[str | None]] = defaultdict(set)
    if plan.regions is None:
        for rep, region in set(map(_TERRITORY_REGION, stores)):
            territory_provinces[rep].add(_province(region))
    else:
        for rep, regions in plan.regions.items():
            territory_provinces[rep].update(map(_province, regions))
    only_province = {
        rep: next(iter(places)) for rep, places in territory_provinces.items() if len(places) == 1
    }
    most_common = _MostCommonProvince(plan.columns) if plan.columns else None
    for gid, (rep, store_ids) in plan.groups.items():
        name = channel.groups[gid].name if gid in channel.groups else ""
        province = only_province.get(rep)
        if province is None and name and most_common and gid in plan.positions:
            province = most_common(plan.positions[gid])
        elif province is None or not name:
            members = plan.facts(gid)
            places = Counter(map(_REGION, members))
            provinces: Counter[str | None] = Counter()
            for place, count in places.items():
                provinces[_province(place)] += count
            province = provinces.most_common(1)[0][0]
        if not name:
            while not name or name in taken[rep]:
                numbers[rep] += 1
                name = _name(channel, rep, members, places, numbers[rep], rules.store_group_name)
            taken[rep].add(name)
        desired.append(
            _Desired(
                gid,
                Matrix.STORE,
                rep,
                province,
                None,
                name,
                chain_seats(channel.staff, rep),
                None if gid in plan.unchanged else store_ids,
            )
        )
    return desired


class _MostCommonProvince:
    """The province most of a group's stores lie in (the first met of those tied), on arrays."""

    def __init__(self, columns: StoreColumns) -> None:
        places = list(map(_province, columns.regions))
        self.provinces = sorted(set(places), key=lambda place: place or "")
        number = {place: index for index, place in enumerate(self.provinces)}
        by_region = np.array([number[place] for place in places], dtype=np.int64)
        self.of_store = by_region[columns.region] if len(columns) else by_region

    def __call__(self, positions: np.ndarray) -> str | None:
        codes = self.of_store[positions]
        counts = np.bincount(codes)
        tied = np.flatnonzero(counts == counts.max())
        if len(tied) > 1:  # as Counter.most_common: the first met among the most common
            return self.provinces[int(codes[np.isin(codes, tied)][0])]
        return self.provinces[int(tied[0])]


def _keyed_desired(
    session: Session,
    tenant: Tenant,
    channel: _Channel,
    settings: MatrixSettings,
    vip_candidates: Collection[str] | None,
) -> list[_Desired]:
    active = [p for p in channel.staff.values() if p.is_active]
    managers: dict[str, list[str]] = defaultdict(list)
    for person in sorted(active, key=lambda p: p.staff_id):
        if person.role is StaffRole.MANAGER and person.region_code:
            managers[catalogue().by_code[person.region_code].province_code].append(person.staff_id)
    directors = sorted(p.staff_id for p in active if p.role is StaffRole.DIRECTOR)
    keyed = (
        dealer_groups(channel.distributors, managers, directors)
        + consumer_groups(channel.consumers, managers, settings)
        + vip_groups(
            channel.columns,
            settings,
            vip_candidates,
            province_of=channel.provinces,
            superior_of=channel.superiors,
        )
    )
    by_key: dict[str, dict[str, set[Seat]]] = defaultdict(dict)
    for gid, group in channel.groups.items():
        if group.plan_key is not None:
            customers = {
                seat
                for seat in channel.seats_of(gid)
                if seat[2] in (MemberRole.CUSTOMER, MemberRole.KOL)
            }
            by_key[group.plan_key][gid] = customers
    ids = {
        matrix: _group_ids(session, tenant, prefix) for matrix, prefix in GROUP_ID_PREFIXES.items()
    }
    desired = []
    for wanted in keyed:
        chunks = chunk(
            wanted,
            by_key.get(wanted.key, {}),
            partial(next, ids[wanted.matrix]),
            wanted.room(settings.max_members),
        )
        for number, (gid, members) in enumerate(sorted(chunks.items()), start=1):
            place = catalogue().full_name(wanted.region_code) if wanted.region_code else "全国"
            name = (
                channel.groups[gid].name
                if gid in channel.groups
                else f"{place}·{wanted.label} {number:02d}"
            )
            province = (
                catalogue().by_code[wanted.region_code].province_code
                if wanted.region_code
                else None
            )
            desired.append(
                _Desired(
                    gid,
                    wanted.matrix,
                    None,
                    province,
                    wanted.key,
                    name,
                    set(members) | wanted.staff_for(members),
                )
            )
    return desired


def _seat_admins(channel: _Channel, desired: list[_Desired], most: int) -> None:
    """Give every group one active group admin of its province, least-loaded; keep sitting ones.

    An admin runs at most ``most`` groups; a group beyond every admin's capacity gets none,
    and the audit reports it (the brand needs more admins).
    """
    admins = sorted(
        p.staff_id
        for p in channel.staff.values()
        if p.role is StaffRole.GROUP_ADMIN and p.is_active
    )
    admin_province = {a: _province(channel.staff[a].region_code) for a in admins}
    load: Counter[str] = Counter()
    # per province: its candidates, and a heap of (load, admin) that may hold stale loads (a
    # load only grows, so a stale entry is pushed again with the current load when it surfaces)
    candidates: dict[str | None, set[str]] = {}
    heaps: dict[str | None, list[tuple[int, str]]] = {}
    for group in desired:
        province = group.province
        if province not in candidates:
            chosen = [a for a in admins if admin_province[a] in (province, None)] or admins
            candidates[province] = set(chosen)
            heaps[province] = [(0, a) for a in chosen]
        allowed, heap = candidates[province], heaps[province]
        sitting = sorted(
            member_id
            for _, member_id, role in channel.seats.get(group.group_id, ())
            if role is MemberRole.ADMIN and member_id in allowed
        )
        admin = next((a for a in sitting if load[a] < most), None)
        while admin is None and heap:
            seen, least = heap[0]
            if load[least] >= most:
                heapq.heappop(heap)
            elif seen != load[least]:
                heapq.heapreplace(heap, (load[least], least))
            else:
                admin = least
        if admin is not None:
            load[admin] += 1
            group.seats.add((ContactKind.STAFF, admin, MemberRole.ADMIN))


@paused_gc()
def do_compute_plan(
    session: Session,
    tenant: Tenant,
    actor_name: str,
    rules: PlanRules | None = None,
    *,
    rebalance: bool = False,
) -> PlanSummary:
    """Compute the four matrices against the current groups and store the plan as pending.

    A pending revision computed earlier is superseded. ``rules`` default to the settings.
    """
    started = time.perf_counter()
    from qunyun.analytics.planning import plan_signals  # imported on first use

    rules = rules or PlanRules.from_settings()
    channel = _read_channel(session, tenant)

    def store_values() -> list[StoreValue]:
        from qunyun.analytics.vip import StoreValue  # the lake's stack, once the lake has events

        return [
            StoreValue(
                store.store_id, channel.provinces[store.region_code], store.annual_purchase_fen
            )
            for store in channel.stores
        ]

    signals = plan_signals(tenant, store_values, list(channel.groups), rules.matrices.vip_share)
    computing = time.perf_counter()
    keyed = _keyed_desired(
        session, tenant, channel, rules.matrices, signals.vip_stores if signals else None
    )
    outside = (
        set()
        if rules.vip_in_base_group
        else {
            member_id
            for group in keyed
            if group.matrix is Matrix.VIP
            for kind, member_id, _ in group.seats
            if kind is ContactKind.STORE
        }
    )
    desired = _store_desired(session, tenant, channel, rules, rebalance, outside) + keyed
    _seat_admins(channel, desired, rules.admin_max_groups)
    changes: list[dict[str, Any]] = []
    wanted_ids = {group.group_id for group in desired}
    for group in desired:
        base = {
            "group_id": group.group_id,
            "matrix": group.matrix,
            "territory_rep_id": group.territory_rep_id,
            "region_code": group.province,
            "plan_key": group.plan_key,
        }
        if group.group_id not in channel.groups:
            changes.append({**base, "kind": ChangeKind.CREATE_GROUP, "group_name": group.name})
        if group.matrix is Matrix.STORE:
            # staff seats (and strays) as sets; store customers as ids, unless they stay as
            # they are (most groups after a small churn)
            have = channel.seats.get(group.group_id, set())
            leaving: Collection[str] = ()
            joining: Collection[str] = ()
            sitting = channel.store_seats.get(group.group_id)
            if group.store_ids is not None and sitting:
                wanted = set(group.store_ids)
                leaving, joining = set(sitting) - wanted, wanted - set(sitting)
            elif group.store_ids is not None:
                joining = group.store_ids  # no store customers yet (every group of a first plan)
        else:
            have, leaving, joining = channel.seats_of(group.group_id), (), ()
        changes.extend(_seat_changes(base, have - group.seats, ChangeKind.LEAVE))
        changes.extend(_customer_change(base, leaving, ChangeKind.LEAVE))
        changes.extend(_seat_changes(base, group.seats - have, ChangeKind.JOIN))
        changes.extend(_customer_change(base, joining, ChangeKind.JOIN))
    for gid, existing in channel.groups.items():
        if gid in wanted_ids or not _planned(existing):
            continue
        base = {
            "group_id": gid,
            "matrix": existing.matrix,
            "territory_rep_id": existing.territory_rep_id,
            "region_code": _province(existing.region_code),
            "plan_key": existing.plan_key,
        }
        changes.extend(_seat_changes(base, channel.seats_of(gid), ChangeKind.LEAVE))
        changes.append({**base, "kind": ChangeKind.ARCHIVE_GROUP})
    writing = time.perf_counter()
    session.execute(
        update(PlanRevision)
        .where(PlanRevision.tenant_id == tenant.id, PlanRevision.status == RevisionStatus.PENDING)
        .values(status=RevisionStatus.SUPERSEDED)
    )
    summary = _summarise(changes)
    summary.vip_from_lake = signals is not None
    for gid in signals.dead_groups if signals else ():
        dead = channel.groups[gid]
        region = _province(dead.region_code)
        name = catalogue().by_code[region].name if region else "—"
        summary.dead_groups.append((gid, dead.matrix.value, name))
    revision = PlanRevision(
        tenant_id=tenant.id,
        status=RevisionStatus.PENDING,
        channel_fingerprint=channel.fingerprint,
        summary="",
        computed_at=utcnow(),
        computed_by=actor_name,
    )
    session.add(revision)
    session.flush()
    summary.revision_id = revision.id
    revision.summary = summary.as_json()
    columns = [
        "revision_id",
        "tenant_id",
        "kind",
        "group_id",
        "group_name",
        "matrix",
        "territory_rep_id",
        "region_code",
        "plan_key",
        "member_kind",
        "member_ids",
        "member_role",
    ]
    for change in changes:
        if "member_ids" in change:
            change["member_ids"] = "\n".join(change["member_ids"])
    rows = [
        [revision.id, tenant.id, *(change.get(name) for name in columns[2:])] for change in changes
    ]
    BulkWriter(session.connection(), PlanChange.__table__).insert(columns, rows)  # type: ignore[arg-type]
    summary.seconds = {
        "read": computing - started,
        "compute": writing - computing,
        "write": time.perf_counter() - writing,
    }
    return summary


def _summarise(changes: list[dict[str, Any]]) -> PlanSummary:
    """Count the changes per matrix and province (see ``PlanSummary``), in two passes.

    The first pass notes the archived groups and where each leaving customer leaves from;
    the second counts, and finds the moves and merges among the joins: linear in the changes
    and the members they list.
    """
    summary = PlanSummary(0)
    keys: list[tuple[str, str]] = []
    left: set[tuple[ContactKind, str]] = set()
    left_from: dict[tuple[Matrix, ContactKind, str], tuple[str, tuple[str | None, str | None]]]
    left_from = {}
    archived: dict[str, tuple[str, str]] = {}
    for change in changes:
        region = change["region_code"]
        key = (change["matrix"].value, catalogue().by_code[region].name if region else "—")
        keys.append(key)
        kind = change["kind"]
        if kind is ChangeKind.ARCHIVE_GROUP:
            archived[change["group_id"]] = key
        elif kind is ChangeKind.LEAVE and change["member_kind"] is not ContactKind.STAFF:
            origin = (change["group_id"], _scope(change))
            matrix, member_kind = change["matrix"], change["member_kind"]
            left.update((member_kind, member) for member in change["member_ids"])
            left_from.update(
                ((matrix, member_kind, member), origin) for member in change["member_ids"]
            )
    joined: dict[tuple[ContactKind, str], tuple[str, str]] = {}
    merged: set[str] = set()
    for change, key in zip(changes, keys, strict=True):
        counts = summary.rows.setdefault(key, Counter())
        kind = change["kind"]
        if kind is ChangeKind.CREATE_GROUP:
            counts["groups_created"] += 1
            continue
        if kind is ChangeKind.ARCHIVE_GROUP:
            counts["groups_archived"] += 1
            continue
        ids = change["member_ids"]
        if change["member_kind"] is ContactKind.STAFF:
            counts["staff_seats_added" if kind is ChangeKind.JOIN else "staff_seats_removed"] += (
                len(ids)
            )
        elif kind is ChangeKind.JOIN:
            counts["members_added"] += len(ids)
            if left:  # a member who leaves one group for another (none in a first plan)
                matrix, member_kind = change["matrix"], change["member_kind"]
                scope = _scope(change)
                for member in ids:
                    if (member_kind, member) not in left:
                        continue
                    joined[(member_kind, member)] = key
                    source = left_from.get((matrix, member_kind, member))
                    if source is not None and source[0] in archived and source[1] == scope:
                        merged.add(source[0])
        else:
            counts["members_removed"] += len(ids)
    for key in joined.values():
        summary.rows[key]["members_moved"] += 1
    for group_id in merged:
        summary.rows[archived[group_id]]["groups_merged"] += 1
    return summary


def _scope(change: dict[str, Any]) -> tuple[str | None, str | None]:
    """Return what a change's group serves: its territory (store groups) or its plan key."""
    return change["territory_rep_id"], change["plan_key"]


def pending_revision(session: Session, tenant: Tenant) -> PlanRevision:
    """Return the tenant's pending revision; raise NotFound when there is none."""
    revision = session.scalar(
        select(PlanRevision).where(
            PlanRevision.tenant_id == tenant.id, PlanRevision.status == RevisionStatus.PENDING
        )
    )
    if revision is None:
        raise NotFound("没有待应用的计划：请先运行 qunyun plan")
    return revision


@paused_gc()
def do_apply_plan(session: Session, tenant: Tenant, actor_name: str) -> PlanRevision:
    """Carry out the pending revision in the caller's transaction and mark it applied.

    Raise NotFound without a pending revision, and Conflict when the channel data changed
    since the plan was computed (the plan would no longer be right).
    """
    revision = pending_revision(session, tenant)
    if channel_watermark(session, tenant) != revision.channel_fingerprint:
        raise Conflict(
            f"计划 #{revision.id} 计算之后渠道数据（门店、员工或社群）有变化，未应用：请重新运行 qunyun plan"
        )
    now = utcnow()
    connection = session.connection()
    # plain tuples through the driver: enum columns come back as their values (StrEnum
    # members compare equal to them), and a national brand's first plan has millions of ids
    changes = driver_rows(
        connection,
        "SELECT kind, group_id, group_name, matrix, territory_rep_id, region_code, plan_key, "
        "member_kind, member_ids, member_role FROM plan_changes WHERE revision_id = ? "
        "ORDER BY id",
        (revision.id,),
    )
    moved = _moved_stores(changes)
    marks = coverage_marks(session, tenant, moved) if len(moved) <= FEW_MOVED_STORES else None
    groups = BulkWriter(connection, Group.__table__)  # type: ignore[arg-type]
    created = groups.bound("created_at", now)
    owner = tenant.company_account_id  # the company owns every group it creates, never a person
    groups.insert(
        [
            "tenant_id",
            "group_id",
            "name",
            "matrix",
            "territory_rep_id",
            "region_code",
            "plan_key",
            "owner_id",
            "created_at",
        ],
        (
            [tenant.id, gid, name or gid, matrix, rep, region, key, owner, created]
            for kind, gid, name, matrix, rep, region, key, *_ in changes
            if kind == ChangeKind.CREATE_GROUP
        ),
        bound=("created_at",),
    )
    memberships = BulkWriter(connection, Membership.__table__)  # type: ignore[arg-type]
    left_at = memberships.bound("left_at", now)
    memberships.execute_many(
        "UPDATE memberships SET left_at = ? WHERE tenant_id = ? AND group_id = ? "
        "AND member_kind = ? AND member_id = ? AND left_at IS NULL",
        (
            (left_at, tenant.id, gid, member_kind, member_id)
            for kind, gid, _, _, _, _, _, member_kind, ids, _ in changes
            if kind == ChangeKind.LEAVE
            for member_id in (ids or "").split("\n")
        ),
    )
    joined_at = memberships.bound("joined_at", now)
    memberships.execute_many(
        "INSERT INTO memberships (tenant_id, group_id, member_kind, member_id, role, joined_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            (tenant.id, gid, member_kind, member_id, role, joined_at)
            for kind, gid, _, _, _, _, _, member_kind, ids, role in changes
            if kind == ChangeKind.JOIN
            for member_id in (ids or "").split("\n")
        ),
    )
    archived = [gid for kind, gid, *_ in changes if kind == ChangeKind.ARCHIVE_GROUP]
    if archived:
        session.execute(
            update(Group)
            .where(Group.tenant_id == tenant.id, Group.group_id.in_(archived))
            .values(archived_at=now)
        )
    revision.status = RevisionStatus.APPLIED
    revision.applied_at = now
    revision.applied_by = actor_name
    session.flush()
    _refresh_figures(session, tenant, changes, moved, marks)
    return revision


FEW_MOVED_STORES = 50_000
"""Up to this many stores joining or leaving, the coverage moves by their difference."""
BULK_STAYS = 1_000
"""From this many stays opened or closed, the planner statistics are refreshed first."""


def _moved_stores(changes: Sequence[Any]) -> set[str]:
    """Return the stores joining or leaving a group in ``changes`` (the driver's plain rows)."""
    return {
        member_id
        for kind, _, _, _, _, _, _, member_kind, ids, _ in changes
        if kind in (ChangeKind.JOIN, ChangeKind.LEAVE) and member_kind == ContactKind.STORE
        for member_id in (ids or "").split("\n")
    }


def _refresh_figures(
    session: Session,
    tenant: Tenant,
    changes: Sequence[Any],
    moved: set[str],
    marks: Mapping[str, Mark] | None,
) -> None:
    """Recompute the member counts of the changed groups and the coverage of moved stores.

    ``changes`` are the driver's plain rows of ``do_apply_plan``: (kind, group_id, …,
    member_kind, member_ids, member_role), enum columns as their values; ``marks`` the
    coverage of the ``moved`` stores before the write (None: recompute the whole tenant).
    """
    refresh_member_counts(session, tenant, {change[1] for change in changes})
    stays = sum(len((change[8] or "").split("\n")) for change in changes)
    if stays > BULK_STAYS:
        refresh_statistics(session, ["memberships", "groups"])
    if marks is None:
        refresh_coverage(session, tenant)
    else:
        refresh_store_coverage(session, tenant, marks, moved)


EXPORT_HEADER = (
    "group_id",
    "group_name",
    "matrix",
    "territory_rep_id",
    "member_kind",
    "member_id",
    "member_role",
)
PLAN_CHANGES_HEADER = ("change", *EXPORT_HEADER)
"""The header of ``qunyun plan show --out``: a change (create_group, archive_group, join, leave)
per member, the columns of the export after it."""


def membership_rows(session: Session, tenant: Tenant) -> Iterator[tuple[str, ...]]:
    """Yield the current memberships as ``EXPORT_HEADER`` rows, by group then member."""
    query = (
        select(
            Group.group_id,
            Group.name,
            Group.matrix,
            Group.territory_rep_id,
            Membership.member_kind,
            Membership.member_id,
            Membership.role,
        )
        .join(
            Membership,
            (Membership.tenant_id == Group.tenant_id) & (Membership.group_id == Group.group_id),
        )
        .where(
            Group.tenant_id == tenant.id, Membership.left_at.is_(None), Group.archived_at.is_(None)
        )
        .order_by(Group.group_id, Membership.member_kind, Membership.member_id)
    )
    for gid, name, matrix, rep, kind, member_id, role in session.execute(query):
        yield (
            gid,
            name,
            matrix.value,
            rep if matrix is Matrix.STORE and rep else "",
            kind.value,
            member_id,
            role.value,
        )


CHANGE_PAGE = 5_000
"""Changes read per query by ``change_rows``."""


def change_rows(session: Session, revision_id: int) -> Iterator[tuple[str, ...]]:
    """Yield a revision's changes as ``PLAN_CHANGES_HEADER`` rows, one per member, by change.

    A group's creation or archiving is one row without a member.
    """
    after = None
    while page := plan_changes(session, revision_id, after, CHANGE_PAGE):
        after = page[-1].id
        for change in page:
            for member_id in change.member_ids.split("\n") if change.member_ids else [""]:
                yield (
                    change.kind.value,
                    change.group_id,
                    change.group_name or "",
                    change.matrix.value,
                    change.territory_rep_id or "",
                    change.member_kind.value if change.member_kind else "",
                    member_id,
                    change.member_role.value if change.member_role else "",
                )
