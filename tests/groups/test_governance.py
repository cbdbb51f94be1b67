"""Coverage, audit and handover of the store matrix, through the command line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine, select, update

from qunyun.channel.models import ContactKind
from qunyun.core.db import unit_of_work
from qunyun.core.settings import get_settings
from qunyun.groups.actions import do_join
from qunyun.groups.models import Group, Matrix, MemberRole, Membership
from qunyun.org.models import Tenant

from ..conftest import Cli
from .brand import BRAND_STAFF, plan_brand, stores_csv


def _seats(cli: Cli, path: Path) -> set[tuple[str, str, str]]:
    return {(group, member, role) for group, _, member, role in _staff_rows(cli, path)}


def _staff_rows(cli: Cli, path: Path) -> set[tuple[str, str, str, str]]:
    """Return (group, matrix, staff id, role) of every open staff seat, from ``plan export``."""
    return {
        (row["group_id"], row["matrix"], row["member_id"], row["member_role"])
        for row in _export(cli, path)
        if row["member_kind"] == "staff"
    }


def _export(cli: Cli, path: Path) -> list[dict[str, str]]:
    cli("plan", "export", "--out", path)
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _demo_rows(name: str) -> dict[str, dict[str, str]]:
    """Return the demo's ``staff.csv`` or ``stores.csv`` rows by id."""
    with (get_settings().home / "demo" / f"{name}.csv").open(encoding="utf-8") as handle:
        return {row.get("staff_id") or row["store_id"]: row for row in csv.DictReader(handle)}


NO_CHANGE = "社群矩阵已符合规则，无需变更。\n"


def test_coverage_before_and_after_the_plan(cli: Cli, tmp_path: Path) -> None:
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")
    covered = json.loads(cli("coverage", "--json").stdout)
    cli("import", "stores", _new_store(tmp_path))

    after_import = json.loads(cli("coverage", "--json").stdout)

    assert (covered["coverage"], covered["uncovered"]) == (1.0, [])
    assert after_import["active_stores"] == covered["active_stores"] + 1
    assert after_import["uncovered"] == [
        {
            "store_id": "NEW1",
            "rep_id": "R0001",
            "reason": "尚未入群：运行 qunyun plan 并 qunyun plan apply",
        }
    ]
    assert (
        after_import["by_rep"]["R0001"]["active"] == after_import["by_rep"]["R0001"]["covered"] + 1
    )


def _new_store(tmp_path: Path) -> Path:
    path = tmp_path / "new.csv"
    path.write_text(
        "store_id,name,province,city,district,store_type,rep_id\nNEW1,新店,广东,广州,天河,便利店,R0001\n",
        encoding="utf-8",
    )
    return path


def test_audit_finds_a_departed_rep_and_handover_mends_it_keeping_history(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given an applied matrix whose rep R0002 then leaves
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")
    assert cli("audit").output == "所有社群均符合规则。\n"
    before = _seats(cli, tmp_path / "before.csv")
    r2_groups = sorted(
        {group for group, member, role in before if (member, role) == ("R0002", "rep")}
    )
    cli("staff", "leave", "R0002")

    # when the audit runs, then R0002's groups break the rule
    breaches = json.loads(cli("audit", "--json", expect=1).stdout)["breaches"]
    assert breaches == [
        {"group_id": group, "rule": "departed_staff", "detail": "R0002 已离职仍在群中"}
        for group in r2_groups
    ]

    # when R0002 hands over to R0003
    result = cli("handover", "--from", "R0002", "--to", "R0003")

    # then R0003 sits where R0002 sat, the audit is clean, and R0002's stays are closed, not gone
    assert result.output.startswith("已交接 R0002 → R0003：")
    after = _seats(cli, tmp_path / "after.csv")
    assert {(g, m, r) for g, m, r in after if g in r2_groups and r == "rep"} == {
        (group, "R0003", "rep") for group in r2_groups
    }
    assert cli("audit").output == "所有社群均符合规则。\n"
    with unit_of_work(engine) as session:
        stays = session.execute(
            select(Membership.group_id, Membership.left_at.is_not(None)).where(
                Membership.member_id == "R0002"
            )
        ).all()
    assert sorted(tuple(stay) for stay in stays) == [(group, True) for group in r2_groups]


def test_handover_refuses_people_of_different_roles(cli: Cli) -> None:
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")

    result = cli("handover", "--from", "R0001", "--to", "S001", expect=1)

    assert result.stderr == "错误：R0001 是业务员，S001 是主管：只能交接给同一角色的人\n"


def test_a_supervisor_handover_cascades_to_his_reps_groups_and_touches_no_other(
    cli: Cli, tmp_path: Path
) -> None:
    # given the demo brand: S001 supervises the 广东 reps, S002 (under M02) the 浙江 ones; the
    # 广东 VIP group seats S001 as the supervisor of its stores
    cli("demo", "--stores", "900", "--consumers", "0", "--no-serve", "--days", "0")
    handed = {sid for sid, row in _demo_rows("staff").items() if row["manager_id"] == "S001"}
    rows = _staff_rows(cli, tmp_path / "before.csv")
    before = {(group, member, role) for group, _, member, role in rows}
    groups_of = {gid for gid, member, role in before if role == "rep" and member in handed}
    vip = {gid for gid, matrix, member, _ in rows if (matrix, member) == ("vip", "S001")}
    assert len(vip) == 1

    # when S001 hands over to S002
    result = cli("handover", "--from", "S001", "--to", "S002")

    # then those reps' groups seat S002 and his manager M02 instead of S001 and M01, the VIP
    # group S002 instead of S001, and the next plan has nothing to change
    after = _seats(cli, tmp_path / "after.csv")
    assert result.output == (
        f"已交接 S001 → S002：门店 0、社群 0、下属 {len(handed)}；"
        f"员工席位 关闭 {2 * len(groups_of) + 1} / 新增 {2 * len(groups_of) + 1}\n"
    )
    assert before - after == {
        seat for gid in groups_of for seat in ((gid, "S001", "supervisor"), (gid, "M01", "manager"))
    } | {(gid, "S001", "supervisor") for gid in vip}
    assert after - before == {
        seat for gid in groups_of for seat in ((gid, "S002", "supervisor"), (gid, "M02", "manager"))
    } | {(gid, "S002", "supervisor") for gid in vip}
    assert json.loads(cli("audit", "--json").stdout)["breaches"] == []
    assert cli("plan").output.endswith(NO_CHANGE)


def test_a_departed_managers_handover_reseats_his_dealer_consumer_and_store_groups(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given the demo brand, whose 广东 manager M01 sits in the 广东 tier-1 dealer group, the
    # 广东 consumer groups and (two levels above the rep) the 广东 store groups; M01 leaves
    cli("demo", "--stores", "900", "--consumers", "300", "--no-serve", "--days", "0")
    rows = _staff_rows(cli, tmp_path / "before.csv")
    before = {(group, member, role) for group, _, member, role in rows}
    seated = {gid: matrix for gid, matrix, member, _ in rows if member == "M01"}
    assert sorted(set(seated.values())) == ["consumer", "dealer", "store"]
    assert {(gid, role) for gid, _, member, role in rows if member == "M01"} == {
        (gid, "manager") for gid in seated
    }
    cli("staff", "leave", "M01")

    # when M01 hands over to M02
    result = cli("handover", "--from", "M01", "--to", "M02")

    # then M02 holds M01's manager seat in every one of those groups and nothing else changed;
    # M01's stays are closed, not gone
    after = _seats(cli, tmp_path / "after.csv")
    assert result.output == (
        f"已交接 M01 → M02：门店 0、社群 0、下属 2；"
        f"员工席位 关闭 {len(seated)} / 新增 {len(seated)}\n"
    )
    assert before - after == {(gid, "M01", "manager") for gid in seated}
    assert after - before == {(gid, "M02", "manager") for gid in seated}
    with unit_of_work(engine) as session:
        stays = session.execute(
            select(Membership.group_id, Membership.left_at.is_not(None)).where(
                Membership.member_id == "M01"
            )
        ).all()
    assert sorted(tuple(stay) for stay in stays) == [(gid, True) for gid in sorted(seated)]


def test_a_reps_handover_to_another_supervisors_rep_seats_that_supervisor_in_the_vip_group(
    cli: Cli, tmp_path: Path
) -> None:
    # given the demo brand: the 广东 VIP group holds stores of R0002 and R0003 (both under
    # S001), and seats S001 for them
    cli("demo", "--stores", "900", "--consumers", "0", "--no-serve", "--days", "0")
    stores = _demo_rows("stores")
    exported = _export(cli, tmp_path / "before.csv")
    vip_reps = {
        (row["group_id"], stores[row["member_id"]]["rep_id"])
        for row in exported
        if (row["matrix"], row["member_kind"]) == ("vip", "store")
    }
    (vip,) = {gid for gid, rep in vip_reps if rep == "R0002"}
    assert {rep for gid, rep in vip_reps if gid == vip} == {"R0002", "R0003"}
    before = _seats(cli, tmp_path / "before.csv")
    (store_group,) = {gid for gid, member, role in before if (member, role) == ("R0002", "rep")}

    # when R0002 hands over to R0004 of 浙江 (under S002 and M02)
    result = cli("handover", "--from", "R0002", "--to", "R0004")

    # then R0002's store group seats R0004's chain, the VIP group seats S002 beside S001 (who
    # still supervises R0003's stores there), and the next plan has nothing to change
    after = _seats(cli, tmp_path / "after.csv")
    assert result.output.endswith("社群 1、下属 0；员工席位 关闭 3 / 新增 4\n")
    assert before - after == {
        (store_group, "R0002", "rep"),
        (store_group, "S001", "supervisor"),
        (store_group, "M01", "manager"),
    }
    assert after - before == {
        (store_group, "R0004", "rep"),
        (store_group, "S002", "supervisor"),
        (store_group, "M02", "manager"),
        (vip, "S002", "supervisor"),
    }
    assert cli("plan").output.endswith(NO_CHANGE)


def test_a_reps_handover_to_a_rep_of_a_manager_seats_that_manager_as_manager_in_the_vip_group(
    cli: Cli, tmp_path: Path
) -> None:
    # given the demo brand whose 浙江 rep R0004 now reports straight to the manager M02 (no
    # supervisor between), planned and applied; the 广东 VIP group holds stores of R0002
    cli("demo", "--stores", "900", "--consumers", "0", "--no-serve", "--days", "0")
    staff = tmp_path / "moved.csv"
    row = _demo_rows("staff")["R0004"]
    staff.write_text(
        f"staff_id,name,role,manager_id,region\nR0004,{row['name']},rep,M02,{row['region']}\n",
        "utf-8",
    )
    cli("import", "staff", staff)
    cli("plan")
    cli("plan", "apply")
    stores = _demo_rows("stores")
    exported = _export(cli, tmp_path / "before.csv")
    vip_reps = {
        (row["group_id"], stores[row["member_id"]]["rep_id"])
        for row in exported
        if (row["matrix"], row["member_kind"]) == ("vip", "store")
    }
    (vip,) = {gid for gid, rep in vip_reps if rep == "R0002"}
    before = _seats(cli, tmp_path / "before.csv")
    (store_group,) = {gid for gid, member, role in before if (member, role) == ("R0004", "rep")}
    assert {(member, role) for gid, member, role in before if gid == store_group} >= {
        ("R0004", "rep"),
        ("M02", "manager"),
    }

    # when R0002 hands over to R0004
    cli("handover", "--from", "R0002", "--to", "R0004")

    # then the 广东 VIP group seats M02 as a manager (his staff role, as in R0004's store
    # group), not as a supervisor, and the next plan has nothing to change
    after = _seats(cli, tmp_path / "after.csv")
    assert {(member, role) for gid, member, role in after - before if gid == vip} == {
        ("M02", "manager")
    }
    assert cli("plan").output.endswith(NO_CHANGE)


def test_a_group_admins_handover_gives_his_admin_seats_in_every_matrix_to_the_taker(
    cli: Cli, tmp_path: Path
) -> None:
    # given the demo brand, whose 广东 admin A01 runs the 广东 groups of all four matrices
    cli("demo", "--stores", "900", "--consumers", "300", "--no-serve", "--days", "0")
    rows = _staff_rows(cli, tmp_path / "before.csv")
    before = {(group, member, role) for group, _, member, role in rows}
    run = {gid: matrix for gid, matrix, member, _ in rows if member == "A01"}
    assert sorted(set(run.values())) == ["consumer", "dealer", "store", "vip"]

    # when A01 hands over to A02
    result = cli("handover", "--from", "A01", "--to", "A02")

    # then A02 is the admin of each of those groups, and no other seat changed
    after = _seats(cli, tmp_path / "after.csv")
    assert result.output == (
        f"已交接 A01 → A02：门店 0、社群 0、下属 0；员工席位 关闭 {len(run)} / 新增 {len(run)}\n"
    )
    assert before - after == {(gid, "A01", "admin") for gid in run}
    assert after - before == {(gid, "A02", "admin") for gid in run}


def _small_brand(cli: Cli, tmp_path: Path) -> dict[str, str]:
    """Plan and apply a brand of R1 (200 stores, T1001 …) and R2 (40, T2001 …) under S1.

    Return each rep's store group.
    """
    groups = plan_brand(cli, tmp_path, {"R1": 200, "R2": 40})
    assert cli("audit").output == "所有社群均符合规则。\n"
    assert {rep: len(of) for rep, of in groups.items()} == {"R1": 1, "R2": 1}
    return {rep: next(iter(of)) for rep, of in groups.items()}


def _join(engine: Engine, group_id: str, kind: ContactKind, member_id: str) -> None:
    with unit_of_work(engine) as session:
        tenant = session.scalars(select(Tenant)).one()
        do_join(session, tenant, group_id, kind, member_id, MemberRole.CUSTOMER)


def test_audit_reports_a_store_group_missing_a_level_above_its_rep(
    cli: Cli, tmp_path: Path
) -> None:
    # given a planned brand whose rep R2 then reports to S2, a supervisor without a manager
    group_of = _small_brand(cli, tmp_path)
    staff = tmp_path / "moved.csv"
    staff.write_text("staff_id,name,role,manager_id,region\nR2,钱业务,rep,S2,广东\n", "utf-8")
    cli("import", "staff", staff)

    # when the audit runs
    result = cli("audit", "--json", expect=1)

    # then R2's group misses its new supervisor, and the level above him is nobody
    assert json.loads(result.stdout) == {
        "breaches": [
            {"group_id": group_of["R2"], "rule": "missing_staff", "detail": "缺少上级 S2"},
            {
                "group_id": group_of["R2"],
                "rule": "missing_staff",
                "detail": "缺少上上级：组织架构中没有此人",
            },
        ]
    }


def test_audit_reports_a_201st_store_joined_directly(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given a planned brand whose rep R1 has a full group of 200 stores, and a new store of R1
    group_of = _small_brand(cli, tmp_path)
    cli("import", "stores", stores_csv(tmp_path, "new.csv", {"T1201": "R1"}))

    # when the new store joins R1's group directly, not through a plan
    _join(engine, group_of["R1"], ContactKind.STORE, "T1201")

    # then the audit reports the group over the maximum, and only that
    assert json.loads(cli("audit", "--json", expect=1).stdout) == {
        "breaches": [
            {"group_id": group_of["R1"], "rule": "over_max", "detail": "201 家门店，超过上限 200"}
        ]
    }


def test_audit_reports_a_store_of_another_territory_joined(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given a planned brand, and R1's store T1001 joined to R2's group as well
    group_of = _small_brand(cli, tmp_path)
    _join(engine, group_of["R2"], ContactKind.STORE, "T1001")

    # when the audit runs, then R2's group mixes territories
    assert json.loads(cli("audit", "--json", expect=1).stdout) == {
        "breaches": [
            {
                "group_id": group_of["R2"],
                "rule": "mixed_territory",
                "detail": "混入其他业务员的门店：R1（1）",
            }
        ]
    }


def test_audit_reports_a_departed_manager_in_dealer_consumer_and_store_groups(
    cli: Cli, tmp_path: Path
) -> None:
    # given the demo brand, whose 广东 manager M01 sits in groups of three matrices, and leaves
    cli("demo", "--stores", "900", "--consumers", "300", "--no-serve", "--days", "0")
    seated = {
        gid: matrix
        for gid, matrix, member, _ in _staff_rows(cli, tmp_path / "m.csv")
        if member == "M01"
    }
    assert sorted(set(seated.values())) == ["consumer", "dealer", "store"]
    cli("staff", "leave", "M01")

    # when the audit runs, then every one of those groups holds a departed person
    assert json.loads(cli("audit", "--json", expect=1).stdout) == {
        "breaches": [
            {"group_id": gid, "rule": "departed_staff", "detail": "M01 已离职仍在群中"}
            for gid in sorted(seated)
        ]
    }


def test_audit_reports_a_dealer_network_group_over_the_maximum(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given a planned brand with a tier-1 distributor G000 heading a network of 199: its
    # network group holds them and him, 200
    _small_brand(cli, tmp_path)
    cli("import", "distributors", _distributors_csv(tmp_path, "d.csv", range(0, 200)))
    cli("plan")
    cli("plan", "apply")
    rows = _export(cli, tmp_path / "after.csv")
    (network,) = {row["group_id"] for row in rows if row["member_id"] == "G001"}
    assert (
        sum(1 for row in rows if (row["group_id"], row["member_kind"]) == (network, "distributor"))
        == 200
    )
    assert cli("audit").output == "所有社群均符合规则。\n"

    # when a 200th lower-tier distributor joins the network group directly
    cli("import", "distributors", _distributors_csv(tmp_path, "new.csv", [200]))
    _join(engine, network, ContactKind.DISTRIBUTOR, "G200")

    # then the audit reports the dealer group over the maximum
    assert json.loads(cli("audit", "--json", expect=1).stdout) == {
        "breaches": [
            {"group_id": network, "rule": "over_max", "detail": "201 家经销商，超过上限 200"}
        ]
    }


def _distributors_csv(tmp_path: Path, name: str, numbers: Iterable[int]) -> Path:
    """Write distributors G000 (tier 1) and G001 … (tier 2 under G000) of ``numbers``."""
    path = tmp_path / name
    path.write_text(
        "distributor_id,name,tier,parent_id,province,city\n"
        + "".join(
            "G000,一级商贸,1,,广东,广州\n" if n == 0 else f"G{n:03d},二级{n},2,G000,广东,广州\n"
            for n in numbers
        ),
        encoding="utf-8",
    )
    return path


def test_every_planned_group_is_owned_by_the_company_account_and_a_person_owner_is_a_breach(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given a brand whose company account is QY-ACME, planned and applied, with a dealer group
    cli("tenant", "create", "acme", "--name", "示例饮料", "--company-account", "QY-ACME")
    staff = tmp_path / "staff.csv"
    staff.write_text(BRAND_STAFF, encoding="utf-8")
    cli("import", "staff", staff)
    cli("import", "stores", stores_csv(tmp_path, "s.csv", {"T1001": "R1", "T2001": "R2"}))
    cli("import", "distributors", _distributors_csv(tmp_path, "d.csv", [0, 1]))
    cli("plan")
    cli("plan", "apply")
    with unit_of_work(engine) as session:
        owners = dict(session.execute(select(Group.matrix, Group.owner_id)).all())
    assert owners == {Matrix.STORE: "QY-ACME", Matrix.DEALER: "QY-ACME"}
    assert cli("audit").output == "所有社群均符合规则。\n"

    # when a chat platform reports that the rep R1 owns his store group
    with unit_of_work(engine) as session:
        (group,) = session.scalars(select(Group.group_id).where(Group.territory_rep_id == "R1"))
        session.execute(update(Group).where(Group.group_id == group).values(owner_id="R1"))

    # then the audit reports a person as owner, and only that
    assert json.loads(cli("audit", "--json", expect=1).stdout) == {
        "breaches": [
            {
                "group_id": group,
                "rule": "person_owner",
                "detail": "群主是员工 R1，应为公司账号 QY-ACME",
            }
        ]
    }


def test_a_tenant_owns_its_groups_by_its_slug_unless_told_otherwise(
    cli: Cli, engine: Engine
) -> None:
    # when the demo brand is created without a company account, then its groups are "demo"'s
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")

    with unit_of_work(engine) as session:
        owners = set(session.scalars(select(Group.owner_id)))
        account = session.scalars(select(Tenant.company_account_id)).one()
    assert (owners, account) == ({"demo"}, "demo")
