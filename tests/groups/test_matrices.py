"""The dealer, consumer and VIP matrices (pure functions) and their keyed chunks."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.channel.models import ContactKind
from qunyun.groups.matrices import (
    ConsumerFacts,
    DistributorFacts,
    KeyedGroup,
    MatrixSettings,
    chunk,
    consumer_groups,
    dealer_groups,
    vip_groups,
)
from qunyun.groups.models import Matrix, MemberRole
from qunyun.groups.planner import StoreFacts

D, S, C = ContactKind.DISTRIBUTOR, ContactKind.STAFF, ContactKind.CONSUMER


def test_dealer_matrix_tier_one_by_province_and_networks_by_tier_one() -> None:
    distributors = [
        DistributorFacts("G1", 1, None, "440000"),
        DistributorFacts("G2", 2, "G1", "440000"),
        DistributorFacts("G3", 3, "G2", "440000"),
        DistributorFacts("Z1", 1, None, "330000"),
        DistributorFacts("X2", 2, None, "330000"),  # an orphan lower tier joins no network
    ]

    groups = dealer_groups(distributors, {"440000": ["M1"], "330000": ["M2"]}, ["D1"])

    assert [(g.key, g.customers, sorted(g.staff)) for g in groups] == [
        (
            "dealer:net:G1",
            [(D, "G2", MemberRole.CUSTOMER), (D, "G3", MemberRole.CUSTOMER)],
            [(D, "G1", MemberRole.CUSTOMER)],
        ),
        (
            "dealer:t1:330000",
            [(D, "Z1", MemberRole.CUSTOMER)],
            [(S, "D1", MemberRole.DIRECTOR), (S, "M2", MemberRole.MANAGER)],
        ),
        (
            "dealer:t1:440000",
            [(D, "G1", MemberRole.CUSTOMER)],
            [(S, "D1", MemberRole.DIRECTOR), (S, "M1", MemberRole.MANAGER)],
        ),
    ]


def test_consumer_matrix_by_city_or_by_district_when_large() -> None:
    consumers = [
        ConsumerFacts(f"A{i}", "kol" if i < 2 else "seed", "440100", "440106", "440000")
        for i in range(5)
    ]
    consumers += [
        ConsumerFacts("B1", "seed", "330100", None, "330000"),
        ConsumerFacts("B2", "fan", "330100", None, "330000"),
    ]

    groups = consumer_groups(
        consumers, {"440000": ["M1"]}, MatrixSettings(district_groups_from=3, min_members=2)
    )

    assert [(g.key, len(g.customers), sorted(g.staff)) for g in groups] == [
        ("consumer:330100", 1, []),
        ("consumer:440106", 5, [(S, "M1", MemberRole.MANAGER)]),
    ]
    assert [seat[2] for seat in groups[1].customers].count(MemberRole.KOL) == 2


def _vip_store(
    store_id: str, region: str, purchase: int, closeness: int, rep: str = "R1"
) -> StoreFacts:
    return StoreFacts(store_id, rep, "convenience", "B", closeness, "stable", region, purchase)


def test_vip_matrix_takes_the_most_valuable_close_stores_with_their_reps_superiors() -> None:
    stores = [
        _vip_store(f"S{i:02d}", "440100", 1000 * i, 5 if i % 2 else 3, f"R{i % 3}")
        for i in range(40)
    ]

    (group,) = vip_groups(
        stores,
        MatrixSettings(vip_share=0.1, vip_min_closeness=4),
        province_of={"440100": "440000"},
        superior_of={
            "R0": (S, "SUP0", MemberRole.SUPERVISOR),
            "R1": (S, "SUP1", MemberRole.SUPERVISOR),
            "R2": (S, "MGR2", MemberRole.MANAGER),  # R2 reports straight to a manager
        },
    )

    assert [seat[1] for seat in group.customers] == ["S39", "S37", "S35", "S33"]
    # each store brings its rep's superior in the seat given, seated only beside it
    assert group.staff == set()
    assert group.staff_for(group.customers) == {
        (S, "SUP0", MemberRole.SUPERVISOR),
        (S, "SUP1", MemberRole.SUPERVISOR),
        (S, "MGR2", MemberRole.MANAGER),
    }
    assert group.staff_for(group.customers[:2]) == {  # S39 of R0, S37 of R1
        (S, "SUP0", MemberRole.SUPERVISOR),
        (S, "SUP1", MemberRole.SUPERVISOR),
    }


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=15),
)
def test_chunks_hold_every_member_once_keep_the_stayers_and_spread_kols(
    before: int, after: int, kols: int
) -> None:
    def seats(count: int) -> list[tuple[ContactKind, str, MemberRole]]:
        return [
            (C, f"U{i:03d}", MemberRole.KOL if i < kols else MemberRole.CUSTOMER)
            for i in range(count)
        ]

    counter = itertools.count(1)
    first = chunk(
        KeyedGroup("k", Matrix.CONSUMER, None, "x", seats(before)),
        {},
        lambda: f"G{next(counter)}",
        20,
    )
    second = chunk(
        KeyedGroup("k", Matrix.CONSUMER, None, "x", seats(after)),
        {gid: set(members) for gid, members in first.items()},
        lambda: f"G{next(counter)}",
        20,
    )

    for plan, size in ((first, before), (second, after)):
        placed = sorted(seat for members in plan.values() for seat in members)
        assert placed == sorted(seats(size))
        assert all(len(members) <= 20 for members in plan.values())
        assert len(plan) == -(-size // 20)
    kept = {seat: gid for gid, members in first.items() for seat in members}
    moved = [
        seat for gid, members in second.items() for seat in members if kept.get(seat, gid) != gid
    ]
    if len(first) <= len(second):  # members move only when the key needs fewer groups
        assert moved == []
    if kols >= len(first) and before:
        assert all(any(seat[2] is MemberRole.KOL for seat in members) for members in first.values())


def test_vip_candidates_replace_the_rule_where_a_province_has_some() -> None:
    # given two provinces; the lake named a candidate only in 110000
    stores = [
        _vip_store("A1", "110101", 9000, 5),
        _vip_store("A2", "110101", 1000, 1),
        _vip_store("B1", "440100", 9000, 5),
        _vip_store("B2", "440100", 1000, 5),
    ]

    # when
    groups = vip_groups(
        stores,
        MatrixSettings(vip_share=0.5),
        candidates={"A2"},
        province_of={"110101": "110000", "440100": "440000"},
        superior_of={},
    )

    # then 110000 takes the candidate (not close, buys less); 440000 keeps the rule
    assert [(g.key, [seat[1] for seat in g.customers]) for g in groups] == [
        ("vip:110000", ["A2"]),
        ("vip:440000", ["B1"]),
    ]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["440100", "330100"]),
            st.integers(min_value=0, max_value=5),  # few purchase values: many ties
            st.integers(min_value=1, max_value=5),
        ),
        min_size=1,
        max_size=80,
    ),
    st.randoms(use_true_random=False),
)
def test_vip_ranking_is_purchase_then_store_id_whatever_the_input_order(
    rows: list[tuple[str, int, int]], rng: random.Random
) -> None:
    # given stores in a shuffled order, with ties in purchase
    stores = [
        _vip_store(f"S{i:03d}", region, purchase, close)
        for i, (region, purchase, close) in enumerate(rows)
    ]
    shuffled = stores[:]
    rng.shuffle(shuffled)
    share = MatrixSettings(vip_share=0.2)

    # when
    groups = vip_groups(
        shuffled, share, province_of={"440100": "440000", "330100": "330000"}, superior_of={}
    )

    # then each province's group is the plain ranking's head: purchase down, store id up
    expected = {}
    for province, region in (("330000", "330100"), ("440000", "440100")):
        members = [s for s in stores if s.region_code == region]
        ranked = sorted(members, key=lambda s: (-s.annual_purchase_fen, s.store_id))
        quota = max(1, round(len(members) * share.vip_share))
        chosen = [s.store_id for s in ranked if s.closeness >= share.vip_min_closeness][:quota]
        if members and chosen:
            expected[f"vip:{province}"] = chosen
    assert {g.key: [seat[1] for seat in g.customers] for g in groups} == expected


def _plain_vip(
    stores: list[StoreFacts],
    settings: MatrixSettings,
    candidates: set[str],
    province_of: dict[str | None, str],
) -> list[tuple[str, list[str]]]:
    """The VIP rule written plainly: per province, its candidates, else its top close stores."""
    groups = []
    for province in sorted({province_of[s.region_code] for s in stores}):
        members = sorted(s for s in stores if province_of[s.region_code] == province)
        quota = max(1, round(len(members) * settings.vip_share))
        chosen = sorted(
            (s for s in members if s.store_id in candidates),
            key=lambda s: -s.annual_purchase_fen,
        )
        if not chosen:
            near = [s for s in members if s.closeness >= settings.vip_min_closeness]
            chosen = sorted(near, key=lambda s: -s.annual_purchase_fen)[:quota]
        if chosen:
            groups.append((f"vip:{province}", [s.store_id for s in chosen]))
    return groups


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["110101", "440100", "440300", None]),
            st.integers(min_value=1, max_value=5),
            st.integers(min_value=0, max_value=4),
            st.booleans(),
        ),
        max_size=80,
    ),
    st.sampled_from([0.05, 0.2, 0.5]),
    st.randoms(use_true_random=False),
)
def test_vip_groups_match_the_plain_rule(
    rows: list[tuple[str | None, int, int, bool]], share: float, rng: random.Random
) -> None:
    # given: stores in any order, purchases with ties, candidates in some provinces only
    stores = [
        StoreFacts(f"S{i:03d}", f"R{i % 4}", "convenience", "B", close, "stable", region, buy * 100)
        for i, (region, close, buy, _) in enumerate(rows)
    ]
    rng.shuffle(stores)
    candidates = {f"S{i:03d}" for i, (*_, wanted) in enumerate(rows) if wanted}
    province_of = {"110101": "110000", "440100": "440000", "440300": "440000", None: ""}
    settings_ = MatrixSettings(vip_share=share)

    for chosen in (candidates, set()):
        # when
        groups = vip_groups(
            stores, settings_, chosen or None, province_of=province_of, superior_of={}
        )

        # then
        assert [(g.key, [seat[1] for seat in g.customers]) for g in groups] == _plain_vip(
            stores, settings_, chosen, province_of
        )


def _city(sizes: list[int], kols: dict[int, int] | None = None) -> list[ConsumerFacts]:
    """Seed users of city 440100 in districts 440101…, ``kols[d]`` of district d's being KOLs."""
    kols = kols or {}
    return [
        ConsumerFacts(
            f"C{d}{i:03d}", "kol" if i < kols.get(d, 0) else "seed", "440100", f"44010{d}", "440000"
        )
        for d, size in enumerate(sizes, start=1)
        for i in range(size)
    ]


def test_a_small_district_joins_the_citys_rest_and_kols_spread_over_the_keys() -> None:
    # given a city of 250 (grouped by district) whose districts are 150, 60, 20, 10, 7 and 3
    # strong, its three KOLs all in the first
    consumers = _city([150, 60, 20, 10, 7, 3], kols={1: 3})

    groups = consumer_groups(consumers, {"440000": ["M1"]}, MatrixSettings())

    # then the four small districts make one group of the city's rest, and each key has a KOL
    assert [
        (g.key, len(g.customers), [s[1] for s in g.customers if s[2] is MemberRole.KOL])
        for g in groups
    ] == [
        ("consumer:440100", 41, ["C1002"]),
        ("consumer:440101", 148, ["C1000"]),
        ("consumer:440102", 61, ["C1001"]),
    ]
    assert all(g.staff == {(S, "M1", MemberRole.MANAGER)} for g in groups)


def test_a_citys_rest_under_the_minimum_joins_its_smallest_district() -> None:
    groups = consumer_groups(_city([180, 40, 10]), {}, MatrixSettings())

    assert [(g.key, len(g.customers)) for g in groups] == [
        ("consumer:440101", 180),
        ("consumer:440102", 50),
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6),
    st.lists(st.integers(min_value=0, max_value=6), min_size=6, max_size=6),
)
def test_consumer_groups_keep_the_size_limits_and_a_kol_per_group_where_the_city_can(
    sizes: list[int], kol_counts: list[int]
) -> None:
    rules = MatrixSettings(max_members=20, min_members=5, district_groups_from=30)
    consumers = _city(sizes, dict(enumerate(kol_counts, start=1)))
    counter = itertools.count(1)

    keys = consumer_groups(consumers, {}, rules)
    plans = {k.key: chunk(k, {}, lambda: f"G{next(counter)}", rules.max_members) for k in keys}

    # every seed user and KOL in exactly one group of at most 20 and at least 5 (unless the
    # whole city is smaller)
    placed = sorted(seat[1] for plan in plans.values() for seats in plan.values() for seat in seats)
    assert placed == sorted(c.consumer_id for c in consumers)
    for plan in plans.values():
        for seats in plan.values():
            assert min(rules.min_members, len(consumers)) <= len(seats) <= rules.max_members
    # a key lacks KOLs only when no key of the city has one to spare (and members above the
    # minimum to give it); when none lacks, every group has one
    spare = {
        k.key: sum(s[2] is MemberRole.KOL for s in k.customers) - len(plans[k.key]) for k in keys
    }
    givers = [k for k in keys if spare[k.key] > 0 and len(k.customers) > rules.min_members]
    assert min(spare.values(), default=0) >= 0 or not givers
    if min(spare.values(), default=0) >= 0:
        assert all(
            any(s[2] is MemberRole.KOL for s in seats)
            for plan in plans.values()
            for seats in plan.values()
        )
