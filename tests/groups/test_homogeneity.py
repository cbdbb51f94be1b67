"""The store planner against the issue's baseline on the demo brand's realistic territories."""

from __future__ import annotations

from pathlib import Path

from qunyun.demo.generator import generate, planner_stores
from qunyun.groups.planner import PlannerSettings, baseline_groups, plan_score, plan_store_groups


def test_the_planner_is_at_least_ten_percent_more_homogeneous_than_the_baseline(
    tmp_path: Path,
) -> None:
    # given the demo brand's 15,000 stores (the homogeneity benchmark's data: territories of
    # 28 to 716 stores)
    files = generate(tmp_path, stores=15_000, consumers=0, seed=20261123)
    stores = planner_stores(files.stores)
    rules = PlannerSettings()

    # when its territories are planned, and cut the baseline's way
    planned = [group for groups in plan_store_groups(stores, rules).values() for group in groups]
    baseline = baseline_groups(stores, rules)

    # then the planner's mean pairwise dissimilarity is ≥ 10% lower, with as many groups
    assert (len(stores), len(planned), len(baseline)) == (14_543, 105, 105)
    ours, theirs = plan_score(planned), plan_score(baseline)
    assert (round(ours, 4), round(theirs, 4)) == (1.5802, 1.7611)
    assert ours / theirs <= 0.90
