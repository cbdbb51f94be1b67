"""Invariants of the store-matrix planner (pure functions, no database)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.groups.planner import (
    GROWTH_ORDER,
    TIER_ORDER,
    TYPE_ORDER,
    CurrentGroup,
    PlannerSettings,
    StoreFacts,
    baseline_groups,
    dissimilarity,
    group_count,
    plan_score,
    plan_store_groups,
    replan_store_groups,
    territories,
)

SMALL = PlannerSettings(max_members=20, min_members=3)


@st.composite
def channel(draw: st.DrawFn, most_per_rep: int = 90) -> list[StoreFacts]:
    reps = draw(st.integers(min_value=1, max_value=5))
    stores = []
    for rep in range(reps):
        size = draw(st.integers(min_value=0, max_value=most_per_rep))
        for number in range(size):
            stores.append(
                StoreFacts(
                    store_id=f"S{rep}-{number:03d}",
                    rep_id=f"R{rep}",
                    store_type=draw(st.sampled_from(TYPE_ORDER)),
                    scale_tier=draw(st.sampled_from((*TIER_ORDER, None))),
                    closeness=draw(st.integers(min_value=1, max_value=5)),
                    growth=draw(st.sampled_from(GROWTH_ORDER)),
                )
            )
    return stores


@settings(max_examples=60, deadline=None)
@given(channel())
def test_every_store_in_exactly_one_group_of_its_own_territory_within_the_size_rules(
    stores: list[StoreFacts],
) -> None:
    plan = plan_store_groups(stores, SMALL)

    placed = [store for groups in plan.values() for group in groups for store in group]
    assert sorted(placed, key=lambda s: s.store_id) == sorted(stores, key=lambda s: s.store_id)
    for rep, groups in plan.items():
        territory = [store for store in stores if store.rep_id == rep]
        assert all(store.rep_id == rep for group in groups for store in group)
        assert len(groups) == math.ceil(len(territory) / SMALL.max_members)
        if len(territory) < SMALL.min_members:
            assert [len(group) for group in groups] == [len(territory)]
        else:
            assert all(SMALL.min_members <= len(group) <= SMALL.max_members for group in groups)


@settings(max_examples=30, deadline=None)
@given(channel(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_input_order(stores: list[StoreFacts], rng) -> None:  # type: ignore[no-untyped-def]
    shuffled = stores[:]
    rng.shuffle(shuffled)

    assert plan_store_groups(shuffled, SMALL) == plan_store_groups(stores, SMALL)


def test_two_worker_processes_give_the_same_plan_as_one() -> None:
    # given 40 territories of 5 to 120 stores with unknown types, missing tiers and closeness
    # outside 1–5 (a pure caller may pass any), at most 20 per group
    rng = random.Random(11)
    stores = [
        StoreFacts(
            f"S{rep:02d}-{number:03d}",
            f"R{rep:02d}",
            rng.choice((*TYPE_ORDER, "kiosk")),
            rng.choice((*TIER_ORDER, None)),
            rng.randint(0, 6),
            rng.choice(GROWTH_ORDER),
        )
        for rep in range(40)
        for number in range(rng.randint(5, 120))
    ]

    # when the territories are searched in one process and over two
    alone = plan_store_groups(stores, SMALL, workers=1)
    shared = plan_store_groups(stores, SMALL, workers=2)

    # then the plans are the same, and each is a valid plan
    assert shared == alone
    assert sorted(s.store_id for groups in alone.values() for g in groups for s in g) == sorted(
        s.store_id for s in stores
    )


@settings(max_examples=100, deadline=None)
@given(channel(most_per_rep=25))
def test_plan_score_is_the_mean_dissimilarity_over_all_pairs(stores: list[StoreFacts]) -> None:
    groups = baseline_groups(stores, SMALL)
    pairs = [pair for group in groups for pair in combinations(group, 2)]

    expected = sum(dissimilarity(a, b) for a, b in pairs) / len(pairs) if pairs else 0.0

    assert plan_score(groups) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_dissimilarity_weighs_each_attribute_up_to_one() -> None:
    a = StoreFacts("S1", "R1", "convenience", "A", 1, "potential")
    b = StoreFacts("S2", "R1", "restaurant", "D", 5, "declining")
    untiered = StoreFacts("S3", "R1", "convenience", None, 1, "potential")

    assert dissimilarity(a, a) == 0
    assert dissimilarity(a, b) == 4
    assert dissimilarity(a, untiered) == 1  # no tier counts as D


def test_territory_sizes_give_ceil_groups() -> None:
    rules = PlannerSettings()

    assert [group_count(n, rules) for n in (0, 1, 29, 200, 201, 400, 401)] == [0, 1, 1, 1, 2, 2, 3]
    with pytest.raises(ValueError, match="min_members 300 must be between 1 and max_members 200"):
        PlannerSettings(min_members=300)
    with pytest.raises(ValueError, match=r"at most half of max_members \+ 1 \(100\)"):
        PlannerSettings(min_members=101)
    assert PlannerSettings(min_members=100).min_members == 100


def test_a_two_group_territory_is_cut_where_the_stores_differ() -> None:
    # given 60 convenience stores and 40 restaurants, alike otherwise, at most 60 per group
    stores = [
        StoreFacts(f"S{number:03d}", "R1", kind, "B", 3, "stable")
        for number, kind in enumerate(["convenience"] * 60 + ["restaurant"] * 40)
    ]

    plan = plan_store_groups(stores, PlannerSettings(max_members=60, min_members=10))

    assert [{store.store_type for store in group} for group in plan["R1"]] == [
        {"convenience"},
        {"restaurant"},
    ]
    assert plan_score(plan["R1"]) == 0


# --- re-planning -------------------------------------------------------------------------


def _current(plan: dict[str, list[list[StoreFacts]]]) -> list[CurrentGroup]:
    groups = []
    for rep, rep_groups in sorted(plan.items()):
        for number, group in enumerate(rep_groups, start=1):
            groups.append(
                CurrentGroup(f"{rep}-G{number:02d}", rep, tuple(s.store_id for s in group))
            )
    return groups


def _namer() -> Callable[[str], str]:
    counter = itertools.count(1)
    return lambda rep: f"{rep}-N{next(counter):03d}"


@st.composite
def churned_channel(draw: st.DrawFn) -> tuple[list[StoreFacts], list[StoreFacts]]:
    before = draw(channel())
    reps = sorted({store.rep_id for store in before} | {"R9"})
    after = []
    for store in before:
        fate = draw(st.sampled_from(["keep"] * 6 + ["close", "move", "attributes"]))
        if fate == "close":
            continue
        if fate == "move":
            store = store._replace(rep_id=draw(st.sampled_from(reps)))
        if fate == "attributes":
            store = store._replace(growth=draw(st.sampled_from(GROWTH_ORDER)))
        after.append(store)
    for number in range(draw(st.integers(min_value=0, max_value=40))):
        after.append(
            StoreFacts(
                f"NEW{number:03d}", draw(st.sampled_from(reps)), "convenience", "C", 3, "stable"
            )
        )
    return before, after


@settings(max_examples=80, deadline=None)
@given(churned_channel())
def test_a_replan_after_churn_keeps_every_rule(
    case: tuple[list[StoreFacts], list[StoreFacts]],
) -> None:
    before, after = case
    current = _current(plan_store_groups(before, SMALL))

    plan = replan_store_groups(after, current, _namer(), SMALL)

    placed = sorted(sid for _, members in plan.groups.values() for sid in members)
    assert placed == sorted(store.store_id for store in after)
    rep_of = {store.store_id: store.rep_id for store in after}
    for rep, members in plan.groups.values():
        assert {rep_of[sid] for sid in members} == {rep}
    for rep in {store.rep_id for store in after}:
        sizes = [len(members) for owner, members in plan.groups.values() if owner == rep]
        territory = sum(1 for store in after if store.rep_id == rep)
        assert len(sizes) == math.ceil(territory / SMALL.max_members)
        if territory >= SMALL.min_members:
            assert all(SMALL.min_members <= size <= SMALL.max_members for size in sizes)
        else:
            assert sizes == [territory]
    old_ids = {group.group_id for group in current}
    assert set(plan.new_groups) == set(plan.groups) - old_ids
    assert set(plan.archived) == old_ids - set(plan.groups)


@settings(max_examples=40, deadline=None)
@given(channel())
def test_a_replan_without_change_changes_nothing(stores: list[StoreFacts]) -> None:
    current = _current(plan_store_groups(stores, SMALL))

    for rebalance in (False, True):
        plan = replan_store_groups(stores, current, _namer(), SMALL, rebalance=rebalance)

        assert (plan.new_groups, plan.archived) == ([], [])
        assert {gid: set(members) for gid, (_, members) in plan.groups.items()} == {
            group.group_id: set(group.store_ids) for group in current
        }


def test_one_percent_churn_moves_at_most_one_percent_of_unchanged_stores() -> None:
    # given a realistic channel: 20,000 stores, territories of a few dozen to several hundred
    rng = random.Random(7)
    reps = [f"R{number:03d}" for number in range(90)]
    weights = [rng.lognormvariate(0, 0.6) for _ in reps]

    def store(number: int) -> StoreFacts:
        return StoreFacts(
            f"S{number:06d}",
            rng.choices(reps, weights)[0],
            rng.choices(TYPE_ORDER, (40, 15, 20, 12, 6, 3, 4))[0],
            rng.choice(TIER_ORDER),
            rng.choices((1, 2, 3, 4, 5), (10, 20, 35, 25, 10))[0],
            rng.choices(GROWTH_ORDER, (25, 55, 20))[0],
        )

    before = [store(number) for number in range(20_000)]
    current = _current(plan_store_groups(before))
    # when 1% of the stores churn: a quarter each new, closed, moved to another rep, changed
    churned = rng.sample(before, 200)
    closed = {s.store_id for s in churned[:50]}
    moved = {s.store_id: rng.choice(reps) for s in churned[50:100]}
    changed = {s.store_id for s in churned[100:150]}
    after = []
    for old in before:
        if old.store_id in closed:
            continue
        new = old._replace(rep_id=moved.get(old.store_id, old.rep_id))
        if old.store_id in changed:
            new = new._replace(closeness=6 - old.closeness)
        after.append(new)
    after += [store(number) for number in range(20_000, 20_050)]

    plan = replan_store_groups(after, current, _namer())

    # then few of the stores that did not change find themselves in another group
    group_before = {sid: group.group_id for group in current for sid in group.store_ids}
    group_after = {sid: gid for gid, (_, members) in plan.groups.items() for sid in members}
    untouched = set(group_before) - closed - set(moved) - changed
    moved_anyway = sum(1 for sid in untouched if group_after[sid] != group_before[sid])
    assert moved_anyway <= len(before) // 100


@settings(max_examples=40, deadline=None)
@given(channel(most_per_rep=70))
def test_the_plan_is_never_worse_than_its_growth_first_start(stores: list[StoreFacts]) -> None:
    # given the plan the local search starts from: each territory sorted growth first, then
    # type, tier, closeness, cut into ceil(n / max) chunks of equal size
    start = []
    for rep in sorted({store.rep_id for store in stores}):
        ordered = sorted(
            (store for store in stores if store.rep_id == rep),
            key=lambda s: (
                GROWTH_ORDER.index(s.growth),
                TYPE_ORDER.index(s.store_type),
                TIER_ORDER.index(s.scale_tier) if s.scale_tier else 3,
                s.closeness,
                s.store_id,
            ),
        )
        k = math.ceil(len(ordered) / SMALL.max_members)
        bounds = [round(g * len(ordered) / k) for g in range(k + 1)]
        start.extend(ordered[a:b] for a, b in itertools.pairwise(bounds))

    plan = plan_store_groups(stores, SMALL)

    assert plan_score(g for groups in plan.values() for g in groups) <= plan_score(start) + 1e-9


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=5), max_size=60),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_territories_hold_each_reps_stores_in_store_id_order(
    reps: list[int], shuffled: bool, rng: random.Random
) -> None:
    # given: stores as a plan reads them (in store id order), or in any order
    stores = [
        StoreFacts(f"S{i:03d}", f"R{rep}", "convenience", "B", 3, "stable")
        for i, rep in enumerate(reps)
    ]
    if shuffled:
        rng.shuffle(stores)

    # when
    by_rep = territories(stores)

    # then
    assert list(by_rep) == sorted({f"R{rep}" for rep in reps})
    assert by_rep == {
        rep: sorted((s for s in stores if s.rep_id == rep), key=lambda s: s.store_id)
        for rep in by_rep
    }


def test_a_store_seated_twice_in_its_territory_stays_in_the_first_group_only() -> None:
    # given a store sitting in two groups of its territory (a manual slip)
    stores = [
        StoreFacts(f"S{number:02d}", "R1", "convenience", "C", 3, "stable") for number in range(6)
    ]
    current = [
        CurrentGroup("G1", "R1", ("S00", "S01", "S02", "S03")),
        CurrentGroup("G2", "R1", ("S03", "S04", "S05")),
    ]

    plan = replan_store_groups(stores, current, _namer(), PlannerSettings(4, 1))

    # then it stays in the first group by id and leaves the other; nothing else moves
    assert plan.groups == {
        "G1": ("R1", ["S00", "S01", "S02", "S03"]),
        "G2": ("R1", ["S04", "S05"]),
    }
    assert plan.unchanged == {"G1"}
    assert (plan.new_groups, plan.archived) == ([], [])


def test_a_replan_lists_kept_groups_in_store_id_order_and_names_the_unchanged() -> None:
    # given groups whose seats are listed out of order, one of them losing a closed store
    stores = [
        StoreFacts(f"S{number:02d}", "R1", "bakery", "B", 2, "growing") for number in range(8)
    ]
    current = [
        CurrentGroup("G1", "R1", ("S00", "S01", "S02", "S03")),
        CurrentGroup("G2", "R1", ("S07", "S05", "S06", "S04")),
        CurrentGroup("G3", "R1", ("S08", "S09")),  # both closed: absent from the stores
    ]

    plan = replan_store_groups(stores, current, _namer(), PlannerSettings(4, 1))

    assert plan.groups == {
        "G1": ("R1", ["S00", "S01", "S02", "S03"]),
        "G2": ("R1", ["S04", "S05", "S06", "S07"]),
    }
    assert plan.unchanged == {"G1"}  # G2's members are the same, its listing is not
    assert plan.archived == ["G3"]
    assert [store.store_id for store in plan.facts("G2")] == ["S04", "S05", "S06", "S07"]
