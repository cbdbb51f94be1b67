"""Coverage, audit and handover of the store matrix, through the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import Engine, select

from qunyun.core.db import unit_of_work
from qunyun.core.settings import get_settings
from qunyun.groups.models import Membership

from ..conftest import Cli


def _seats(cli: Cli, path: Path) -> set[tuple[str, str, str]]:
    cli("plan", "export", "--out", path)
    with path.open(encoding="utf-8") as handle:
        return {
            (row["group_id"], row["member_id"], row["member_role"])
            for row in csv.DictReader(handle)
            if row["member_kind"] == "staff"
        }


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
    assert cli("audit").output == "所有终端店群均符合规则。\n"
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
    assert cli("audit").output == "所有终端店群均符合规则。\n"
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
    # given the demo brand: S001 supervises the 广东 reps, S002 (under M02) the 浙江 ones
    cli("demo", "--stores", "900", "--consumers", "0", "--no-serve", "--days", "0")
    with (get_settings().home / "demo" / "staff.csv").open(encoding="utf-8") as handle:
        staff = {row["staff_id"]: row for row in csv.DictReader(handle)}
    handed = {sid for sid, row in staff.items() if row["manager_id"] == "S001"}
    before = _seats(cli, tmp_path / "before.csv")
    groups_of = {gid for gid, member, role in before if role == "rep" and member in handed}

    # when S001 hands over to S002
    result = cli("handover", "--from", "S001", "--to", "S002")

    # then those reps' groups seat S002 and his manager M02 instead of S001 and M01
    after = _seats(cli, tmp_path / "after.csv")
    assert result.output == (
        f"已交接 S001 → S002：门店 0、社群 0、下属 {len(handed)}；"
        f"员工席位 关闭 {2 * len(groups_of)} / 新增 {2 * len(groups_of)}\n"
    )
    assert before - after == {
        seat for gid in groups_of for seat in ((gid, "S001", "supervisor"), (gid, "M01", "manager"))
    }
    assert after - before == {
        seat for gid in groups_of for seat in ((gid, "S002", "supervisor"), (gid, "M02", "manager"))
    }
    assert json.loads(cli("audit", "--json").stdout)["breaches"] == []
