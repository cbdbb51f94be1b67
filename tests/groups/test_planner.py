"""Invariants of the store-matrix planner (pure functions, no database)."""

from __future__ import annotations

import math
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qunyun.groups.planner import (
    GROWTH_ORDER,
    TIER_ORDER,
    TYPE_ORDER,
    PlannerSettings,
    StoreFacts,
    baseline_groups,
    dissimilarity,
    group_count,
    plan_score,
    plan_store_groups,
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
