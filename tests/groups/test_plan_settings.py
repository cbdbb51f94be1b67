"""The plan's tunable rules, set through QUNYUN_* settings and seen through the CLI."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from qunyun.core import settings as settings_module
from qunyun.core.db import unit_of_work
from qunyun.demo.generator import generate
from qunyun.org.models import Staff

from ..channel.sample import write
from ..conftest import Cli
from .test_plans import _demo_stores, _export


def _configure(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"QUNYUN_{name.upper()}", value)
    settings_module.get_settings.cache_clear()


def test_group_sizes_and_names_follow_the_settings(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given smaller groups and a plain name template
    _configure(
        monkeypatch,
        group_max_members="50",
        group_min_members="10",
        store_group_name="{rep_id}-{number}",
    )

    # when the demo brand is planned and applied
    cli("demo", "--stores", "400", "--consumers", "0", "--no-serve", "--days", "0")
    rows = _export(cli, tmp_path / "m.csv")

    # then every territory has ceil(n / 50) groups of 10..50 stores, named by the template
    active = Counter(rep for rep, status in _demo_stores(cli).values() if status == "营业")
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[row["group_id"]].append(row)
    assert Counter(g[0]["territory_rep_id"] for g in groups.values()) == {
        rep: math.ceil(count / 50) for rep, count in active.items()
    }
    names_by_rep: dict[str, set[str]] = defaultdict(set)
    for group in groups.values():
        size = sum(1 for row in group if row["member_role"] == "customer")
        rep = group[0]["territory_rep_id"]
        assert 10 <= size <= 50 or active[rep] < 10
        names_by_rep[rep].add(group[0]["group_name"])
    assert names_by_rep == {
        rep: {f"{rep}-{number}" for number in range(1, math.ceil(count / 50) + 1)}
        for rep, count in active.items()
    }
    assert json.loads(cli("audit", "--json").stdout)["breaches"] == []


def test_an_admin_runs_no_more_groups_than_the_setting_and_the_audit_says_who_lacks_one(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given one group per admin at most
    _configure(monkeypatch, admin_max_groups="1")

    # when the demo brand is planned and applied
    cli("demo", "--stores", "900", "--consumers", "0", "--no-serve", "--days", "0")

    # then each admin sits in exactly one group, and the groups without one (of every matrix)
    # are reported
    cli("plan", "export", "--out", tmp_path / "all.csv")
    with (tmp_path / "all.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    seats = Counter(row["member_id"] for row in rows if row["member_role"] == "admin")
    admins = {
        row["staff_id"]
        for row in csv.DictReader(
            (settings_module.get_settings().home / "demo" / "staff.csv").open(encoding="utf-8")
        )
        if row["role"] == "group_admin"
    }
    assert seats == dict.fromkeys(admins, 1)
    groups = {row["group_id"] for row in rows}
    with_admin = {row["group_id"] for row in rows if row["member_role"] == "admin"}
    audit = cli("audit", "--json", expect=1)
    missing = {
        b["group_id"] for b in json.loads(audit.stdout)["breaches"] if b["rule"] == "missing_admin"
    }
    assert missing == groups - with_admin
    assert {row["matrix"] for row in rows if row["group_id"] in missing} == {
        "dealer",
        "store",
        "vip",
    }  # 900 stores make more groups than the demo has admins


def test_vip_stores_can_leave_their_base_group(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given VIP stores kept out of the store matrix
    _configure(monkeypatch, vip_in_base_group="false")

    # when the demo brand is planned and applied
    cli("demo", "--stores", "900", "--consumers", "0", "--no-serve", "--days", "0")

    # then a VIP store is in its VIP group and in no store group, and all stores are covered
    vip = {
        row["member_id"]
        for row in _export(cli, tmp_path / "v.csv", "vip")
        if row["member_kind"] == "store"
    }
    base = {
        row["member_id"]
        for row in _export(cli, tmp_path / "s.csv")
        if row["member_kind"] == "store"
    }
    active = {sid for sid, (_, status) in _demo_stores(cli).items() if status == "营业"}
    assert vip
    assert vip & base == set()
    assert vip | base == active
    coverage = json.loads(cli("coverage", "--json").stdout)
    assert (coverage["covered"], coverage["active_stores"]) == (len(active), len(active))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "group_min_members",
            "120",
            "QUNYUN_GROUP_MIN_MEMBERS 120 must be at most half of QUNYUN_GROUP_MAX_MEMBERS + 1 (100)",
        ),
        ("store_group_name", "{city}群", "QUNYUN_STORE_GROUP_NAME: bad template '{city}群'"),
        (
            "admin_max_groups",
            "0",
            "QUNYUN_ADMIN_MAX_GROUPS: Input should be greater than or equal to 1",
        ),
    ],
)
def test_a_bad_plan_setting_is_refused_with_its_name(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    _configure(monkeypatch, **{name: value})

    result = cli("plan", "--tenant", "acme", expect=2)

    assert message in result.output


def test_a_vip_group_seats_the_supervisors_of_its_own_stores_only(
    cli: Cli, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a brand whose provinces have several supervisors, and VIP groups small enough that
    # a province's VIP stores fill several of them
    _configure(monkeypatch, group_max_members="10", group_min_members="5")
    files = generate(tmp_path / "files", stores=2000, consumers=0, reps=40, seed=3)
    cli("tenant", "create", "acme", "--name", "A")
    for entity, path in (
        ("staff", files.staff),
        ("distributors", files.distributors),
        ("stores", files.stores),
    ):
        cli("import", entity, path)

    # when the plan is computed and applied
    cli("plan")
    cli("plan", "apply")
    rows = _export(cli, tmp_path / "m.csv", matrix="vip")

    # then each VIP group's staff are the supervisors of its stores' reps, and nobody else
    with unit_of_work(engine) as session:
        manager = {p.staff_id: p.manager_id for p in session.scalars(select(Staff))}
    with files.stores.open(encoding="utf-8") as handle:
        rep_of = {row["store_id"]: row["rep_id"] for row in csv.DictReader(handle)}
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[row["group_id"]].append(row)
    seated: dict[str, set[str]] = defaultdict(set)
    for group in groups.values():
        stores = [row["member_id"] for row in group if row["member_kind"] == "store"]
        assert 1 <= len(stores) <= 10
        staff = sorted(
            (row["member_id"], row["member_role"])
            for row in group
            if row["member_kind"] == "staff" and row["member_role"] != "admin"
        )
        assert staff == sorted({(manager[rep_of[store]], "supervisor") for store in stores})
        seated[group[0]["group_name"].rsplit(" ", 1)[0]].add(tuple(staff))
    # some province's VIP groups differ in their supervisors (else the rule would not show)
    assert max(map(len, seated.values())) >= 2


def test_a_vip_group_seats_no_supervisor_who_left(cli: Cli, tmp_path: Path) -> None:
    # given a VIP store whose rep's supervisor S1 left, and one whose supervisor S2 stays
    cli("tenant", "create", "acme", "--name", "A")
    cli(
        "import",
        "staff",
        write(
            tmp_path,
            "staff.csv",
            "staff_id,name,role,manager_id,region\n"
            "M1,经理,经理,,广东\nS1,主管一,主管,M1,广东\nS2,主管二,主管,M1,广东\n"
            "R1,业务一,业务员,S1,广东\nR2,业务二,业务员,S2,广东\nA1,群管,群管理员,M1,广东\n",
        ),
    )
    cli(
        "import",
        "stores",
        write(
            tmp_path,
            "stores.csv",
            "store_id,name,province,city,district,store_type,annual_purchase_yuan,closeness,rep_id\n"
            + "".join(
                f"T{n:02d},店,广东,广州,天河,便利店,{1000 * n},{5 if n > 38 else 1},R{n % 2 + 1}\n"
                for n in range(1, 41)
            ),
        ),
    )
    cli("staff", "leave", "S1")

    # when the plan is computed and applied
    cli("plan")
    cli("plan", "apply")

    # then the VIP group holds both stores and only the supervisor who stays
    rows = _export(cli, tmp_path / "v.csv", matrix="vip")
    assert sorted((row["member_id"], row["member_role"]) for row in rows) == [
        ("A1", "admin"),
        ("S2", "supervisor"),
        ("T39", "customer"),
        ("T40", "customer"),
    ]


def test_a_networks_tier_one_boss_counts_within_the_groups_maximum(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given groups of at most 10 customers, and a tier-1 distributor with ten below it
    _configure(monkeypatch, group_max_members="10", group_min_members="5")
    rows = ["G1,广州一级商贸,一级,,广东,广州,,陈老板,"]
    rows += [f"G2{i:02d},二级批发{i},2,G1,广东,广州,天河,," for i in range(10)]
    distributors = tmp_path / "d.csv"
    distributors.write_text(
        "distributor_id,name,tier,parent_id,province,city,district,boss_name,phone\n"
        + "\n".join(rows)
        + "\n",
        encoding="utf-8",
    )
    cli("tenant", "create", "acme", "--name", "A")
    cli("import", "distributors", distributors)

    # when the plan is applied
    cli("plan")
    cli("plan", "apply")

    # then the network fills two groups, each of ten customers with the boss among them
    network: dict[str, list[str]] = defaultdict(list)
    for row in _export(cli, tmp_path / "m.csv", matrix="dealer"):
        if "·G1分销网络群 " in row["group_name"] and row["member_role"] == "customer":
            network[row["group_id"]].append(row["member_id"])
    assert sorted(map(len, network.values())) == [6, 6]
    assert all("G1" in members for members in network.values())
    assert sorted(m for members in network.values() for m in members if m != "G1") == [
        f"G2{i:02d}" for i in range(10)
    ]
