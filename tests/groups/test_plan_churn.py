"""Stability of an applied matrix through the CLI: attribute changes alone move no store.

Only ``plan --rebalance`` regroups stores by their new attributes; a re-plan after an apply
changes nothing.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from ..conftest import Cli
from .test_plan_properties import (
    GROWTHS,
    NOTHING_TO_CHANGE,
    STORE_TYPES,
    Brand,
    Person,
    Shop,
    _load,
)
from .test_plans import _export


def _brand(territories: dict[str, list[str]]) -> Brand:
    """Return a one-province brand whose reps serve stores of the given types (closeness 3)."""
    brand = Brand()
    for person in (
        Person("M1", "经理", None, "广东"),
        Person("S1", "主管", "M1", "广东"),
        Person("A1", "群管理员", "M1", "广东"),
    ):
        brand.add(person)
    for rep, types in territories.items():
        brand.add(Person(rep, "业务员", "S1", "广东"))
        first = len(brand.stores)
        brand.stores.extend(
            Shop(
                f"T{first + n:04d}",
                rep,
                "广东",
                "广州",
                "天河",
                kind,
                50_000,
                "",
                3,
                "稳定",
                True,
            )
            for n, kind in enumerate(types, start=1)
        )
    return brand


def _import_stores(cli: Cli, brand: Brand, directory: Path) -> None:
    cli("import", "stores", brand.write(directory)[2])


def _store_groups(cli: Cli, path: Path) -> dict[str, str]:
    """Return the store group of every store."""
    return {
        row["member_id"]: row["group_id"]
        for row in _export(cli, path)
        if row["member_kind"] == "store"
    }


def test_attribute_changes_alone_move_no_store(cli: Cli, tmp_path: Path) -> None:
    # given an applied matrix of territories needing 3, 1 and 1 groups, stores of random kinds
    rng = random.Random(7)
    brand = _brand(
        {
            rep: [rng.choice(STORE_TYPES) for _ in range(size)]
            for rep, size in (("R1", 420), ("R2", 150), ("R3", 12))
        }
    )
    for shop in brand.stores:
        shop.closeness, shop.growth = rng.randint(1, 3), rng.choice(GROWTHS)
    cli("tenant", "create", "acme", "--name", "A")
    _load(cli, brand, tmp_path)
    before = _export(cli, tmp_path / "before.csv", None)

    # when a sixth of the stores change type, tier, closeness and growth, and the plan is applied
    changed = brand.stores[::6]
    for shop in changed:
        shop.store_type = STORE_TYPES[(STORE_TYPES.index(shop.store_type) + 3) % 7]
        shop.tier = "A类"
        shop.closeness = 5 - shop.closeness
        shop.growth = GROWTHS[(GROWTHS.index(shop.growth) + 1) % 3]
    _import_stores(cli, brand, tmp_path)
    cli("plan")
    cli("plan", "apply")

    # then every store is in the group it was in: the store matrix did not change at all
    after = _export(cli, tmp_path / "after.csv", None)
    assert [row for row in after if row["matrix"] == "store"] == [
        row for row in before if row["matrix"] == "store"
    ]
    assert {row["member_id"] for row in after if row["matrix"] == "vip"} != {
        row["member_id"] for row in before if row["matrix"] == "vip"
    }  # the closeness changes did reach the VIP matrix
    assert NOTHING_TO_CHANGE in cli("plan").output


def test_rebalance_regroups_stores_by_their_new_attributes(cli: Cli, tmp_path: Path) -> None:
    # given a territory of 200 convenience stores and 200 supermarkets, one group of each
    brand = _brand({"R1": ["便利店"] * 200 + ["超市"] * 200})
    cli("tenant", "create", "acme", "--name", "A")
    _load(cli, brand, tmp_path)
    before = _store_groups(cli, tmp_path / "before.csv")
    group_of_type = {shop.store_type: before[shop.store_id] for shop in brand.stores}
    assert len(set(group_of_type.values())) == 2

    # when 50 stores of each type switch to the other type
    flipped = brand.stores[:50] + brand.stores[200:250]
    other = {"便利店": "超市", "超市": "便利店"}
    brand.stores = [
        replace(shop, store_type=other[shop.store_type]) if shop in flipped else shop
        for shop in brand.stores
    ]
    _import_stores(cli, brand, tmp_path)

    # then a plain plan keeps them where they are, and a rebalancing plan moves exactly them to
    # the group of their new type (the two groups keep their ids)
    assert NOTHING_TO_CHANGE in cli("plan").output
    cli("plan", "--rebalance")
    cli("plan", "apply")
    after = _store_groups(cli, tmp_path / "after.csv")
    types: dict[str, set[str]] = defaultdict(set)
    for shop in brand.stores:
        types[after[shop.store_id]].add(shop.store_type)
    assert types == {group: {kind} for kind, group in group_of_type.items()}
    assert {store for store in before if before[store] != after[store]} == {
        shop.store_id for shop in flipped
    }
    assert NOTHING_TO_CHANGE in cli("plan").output


def test_a_new_group_takes_a_name_no_open_group_of_its_territory_has(
    cli: Cli, tmp_path: Path
) -> None:
    # given a territory whose groups 01–03 of alike stores shrank to two (02 dissolved)
    brand = _brand({"R1": ["便利店"] * 600})
    cli("tenant", "create", "acme", "--name", "A")
    _load(cli, brand, tmp_path)
    groups = _store_groups(cli, tmp_path / "first.csv")
    by_group: dict[str, list[Shop]] = defaultdict(list)
    for shop in brand.stores:
        by_group[groups[shop.store_id]].append(shop)
    first, second, third = (by_group[group] for group in sorted(by_group))
    for shop in second[:100] + third[:100]:
        shop.is_active = False
    _import_stores(cli, brand, tmp_path)
    cli("plan")
    cli("plan", "apply")

    # when 50 new stores open there, finding no room
    brand.stores.extend(replace(first[0], store_id=f"T{n:04d}") for n in range(601, 651))
    _import_stores(cli, brand, tmp_path)
    cli("plan")
    cli("plan", "apply")

    # then the new group is numbered after the two that stay, not as the second of three
    names = sorted({row["group_name"] for row in _export(cli, tmp_path / "after.csv")})
    assert names == [f"广州天河·便利店C类·员工R1服务群 {number}" for number in ("01", "03", "04")]
