"""Cross-row rules of staff (manager tree) and distributor (tier tree) imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from qunyun.channel.imports import ImportRejected, ImportReport, do_import, find_cycles
from qunyun.channel.models import Distributor, Store
from qunyun.core.db import unit_of_work
from qunyun.org.models import Staff, StaffRole, Tenant

from .sample import DISTRIBUTORS_CSV, STAFF_CSV, STORES_CSV, write

STAFF_HEADER = "staff_id,name,role,manager_id\n"
DISTRIBUTOR_HEADER = "distributor_id,name,tier,parent_id\n"


def _import(
    engine: Engine, tenant: Tenant, entity: str, path: Path, **options: object
) -> ImportReport:
    with unit_of_work(engine) as session:
        return do_import(session, tenant, entity, path, **options)  # type: ignore[arg-type]


def _rejected(
    engine: Engine, tenant: Tenant, entity: str, path: Path
) -> list[tuple[int, str, str, str]]:
    with pytest.raises(ImportRejected) as caught:
        _import(engine, tenant, entity, path)
    return [
        (error.row, error.column, error.value, error.reason) for error in caught.value.report.errors
    ]


def _staff(engine: Engine) -> dict[str, tuple[StaffRole, str | None]]:
    with unit_of_work(engine) as session:
        return {
            staff_id: (role, manager_id)
            for staff_id, role, manager_id in session.execute(
                select(Staff.staff_id, Staff.role, Staff.manager_id)
            )
        }


def _distributors(engine: Engine) -> dict[str, tuple[int, str | None]]:
    with unit_of_work(engine) as session:
        return {
            key: (tier, parent)
            for key, tier, parent in session.execute(
                select(Distributor.distributor_id, Distributor.tier, Distributor.parent_id)
            )
        }


def _count(engine: Engine, model: type) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --- staff -----------------------------------------------------------------------------------


def test_unknown_manager_is_rejected(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given a rep whose manager is neither in the file nor in the system
    path = write(tmp_path, "staff.csv", STAFF_HEADER + "D1,王总,总监,\nR1,赵业务,业务员,X9\n")

    # when / then
    assert _rejected(engine, tenant, "staff", path) == [
        (3, "manager_id(上级编号)", "X9", "上级 X9 不存在（既不在文件中，也不在系统中）"),
    ]
    assert _count(engine, Staff) == 0


def test_manager_already_in_the_system_is_accepted(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    _import(engine, tenant, "staff", write(tmp_path, "a.csv", STAFF_HEADER + "D1,王总,总监,\n"))

    report = _import(
        engine, tenant, "staff", write(tmp_path, "b.csv", STAFF_HEADER + "M1,李经理,经理,D1\n")
    )

    assert (report.inserted, report.rejected_rows) == (1, 0)
    assert _staff(engine) == {"D1": (StaffRole.DIRECTOR, None), "M1": (StaffRole.MANAGER, "D1")}


def test_manager_who_is_the_person_is_rejected(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    path = write(tmp_path, "staff.csv", STAFF_HEADER + "D1,王总,总监,\nM1,李经理,经理,M1\n")

    assert _rejected(engine, tenant, "staff", path) == [
        (3, "manager_id(上级编号)", "M1", "上级不能是本人"),
    ]
    assert _count(engine, Staff) == 0


def test_cycle_within_the_file_rejects_every_row_on_it(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given A → B → A among otherwise fine rows
    path = write(
        tmp_path,
        "staff.csv",
        STAFF_HEADER + "D1,王总,总监,\nA,甲,经理,B\nR1,赵业务,业务员,D1\nB,乙,经理,A\n",
    )

    # when / then both rows of the cycle, and only they, are reported
    assert _rejected(engine, tenant, "staff", path) == [
        (3, "manager_id(上级编号)", "B", "上级关系形成循环：A → B → A"),
        (5, "manager_id(上级编号)", "A", "上级关系形成循环：A → B → A"),
    ]
    assert _count(engine, Staff) == 0


def test_longer_cycle_is_reported_in_walk_order(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    path = write(tmp_path, "staff.csv", STAFF_HEADER + "A,甲,经理,B\nB,乙,经理,C\nC,丙,经理,A\n")

    assert _rejected(engine, tenant, "staff", path) == [
        (2, "manager_id(上级编号)", "B", "上级关系形成循环：A → B → C → A"),
        (3, "manager_id(上级编号)", "C", "上级关系形成循环：A → B → C → A"),
        (4, "manager_id(上级编号)", "A", "上级关系形成循环：A → B → C → A"),
    ]


def test_cycle_with_a_row_already_in_the_system(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given A (no manager) and B reporting to A in the system
    _import(
        engine,
        tenant,
        "staff",
        write(tmp_path, "a.csv", STAFF_HEADER + "A,甲,总监,\nB,乙,经理,A\n"),
    )

    # when a file makes A report to B
    path = write(tmp_path, "b.csv", STAFF_HEADER + "A,甲,总监,B\n")

    # then A's row is rejected and the system keeps its tree; the cycle may be named from
    # either node (the system's rows are read in no particular order)
    [(row, column, value, reason)] = _rejected(engine, tenant, "staff", path)
    assert (row, column, value) == (2, "manager_id(上级编号)", "B")
    assert reason in {"上级关系形成循环：A → B → A", "上级关系形成循环：B → A → B"}
    assert _staff(engine) == {"A": (StaffRole.DIRECTOR, None), "B": (StaffRole.MANAGER, "A")}


def test_reports_may_come_before_their_managers_in_the_file(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "staff.csv",
        STAFF_HEADER + "R1,赵业务,业务员,S1\nS1,张主管,主管,D1\nD1,王总,总监,\n",
    )

    report = _import(engine, tenant, "staff", path)

    assert (report.inserted, report.rejected_rows) == (3, 0)
    assert _staff(engine) == {
        "R1": (StaffRole.REP, "S1"),
        "S1": (StaffRole.SUPERVISOR, "D1"),
        "D1": (StaffRole.DIRECTOR, None),
    }


def test_file_may_reshape_the_tree_without_a_cycle(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given A above B in the system
    _import(
        engine,
        tenant,
        "staff",
        write(tmp_path, "a.csv", STAFF_HEADER + "A,甲,经理,\nB,乙,经理,A\n"),
    )

    # when one file swaps them (B loses its manager, A reports to B)
    report = _import(
        engine,
        tenant,
        "staff",
        write(tmp_path, "b.csv", STAFF_HEADER + "B,乙,经理,\nA,甲,经理,B\n"),
    )

    # then it is no cycle: the file's values replace the system's
    assert (report.updated, report.rejected_rows) == (2, 0)
    assert _staff(engine) == {"A": (StaffRole.MANAGER, "B"), "B": (StaffRole.MANAGER, None)}


def test_rep_who_serves_stores_cannot_change_role(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given R1 serving two stores
    _import(engine, tenant, "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    _import(engine, tenant, "distributors", write(tmp_path, "d.csv", DISTRIBUTORS_CSV))
    _import(engine, tenant, "stores", write(tmp_path, "stores.csv", STORES_CSV))

    # when a file promotes R1 to supervisor and R2 (also serving a store) stays a rep
    path = write(tmp_path, "promote.csv", STAFF_HEADER + "R1,赵业务,主管,M1\nR2,钱业务,业务员,S1\n")

    # then
    assert _rejected(engine, tenant, "staff", path) == [
        (2, "role(角色)", "supervisor", "仍有 2 家门店由其服务，角色不能改为非业务员"),
    ]
    assert _staff(engine)["R1"] == (StaffRole.REP, "S1")


def test_rep_without_stores_may_change_role(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    _import(engine, tenant, "staff", write(tmp_path, "staff.csv", STAFF_CSV))

    report = _import(
        engine,
        tenant,
        "staff",
        write(tmp_path, "promote.csv", STAFF_HEADER + "R1,赵业务,主管,M1\n"),
    )

    assert (report.updated, report.rejected_rows) == (1, 0)
    assert _staff(engine)["R1"] == (StaffRole.SUPERVISOR, "M1")
    assert _count(engine, Store) == 0


def test_rejected_manager_rejects_its_direct_reports(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given M1 with a bad role, and S1 reporting to M1
    path = write(
        tmp_path,
        "staff.csv",
        STAFF_HEADER + "D1,王总,总监,\nM1,李经理,太空人,D1\nS1,张主管,主管,M1\n",
    )

    # when
    report = _import(engine, tenant, "staff", path, skip_invalid=True)

    # then S1 is not imported under a manager that was not imported
    assert [(error.row, error.column) for error in report.errors] == [
        (3, "role(角色)"),
        (4, "manager_id(上级编号)"),
    ]
    assert _staff(engine) == {"D1": (StaffRole.DIRECTOR, None)}


def test_skip_invalid_never_imports_a_report_of_a_rejected_manager(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given M1 reporting to an unknown X9, and S1 reporting to M1
    path = write(
        tmp_path,
        "staff.csv",
        STAFF_HEADER + "D1,王总,总监,\nM1,李经理,经理,X9\nS1,张主管,主管,M1\n",
    )

    # when the good rows are imported
    report = _import(engine, tenant, "staff", path, skip_invalid=True)

    # then every imported manager_id names someone in the system
    staff = _staff(engine)
    assert (
        sorted(
            manager for _, manager in staff.values() if manager is not None and manager not in staff
        )
        == []
    )
    assert (report.rejected_rows, sorted(staff)) == (2, ["D1"])


# --- distributors ----------------------------------------------------------------------------


def test_parent_must_be_a_higher_tier(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given a 2nd-tier distributor under another 2nd-tier and one under a 3rd-tier
    path = write(
        tmp_path,
        "d.csv",
        DISTRIBUTOR_HEADER
        + "G1,一级商,1,\nG2,二级商,2,G1\nG3,二级商B,二级,G2\nG4,三级商,3,G2\nG5,二级商C,2,G4\n",
    )

    # when / then
    assert _rejected(engine, tenant, "distributors", path) == [
        (4, "parent_id(上级经销商)", "G2", "上级 G2 是2级，须高于本经销商（2级）"),
        (6, "parent_id(上级经销商)", "G4", "上级 G4 是3级，须高于本经销商（2级）"),
    ]
    assert _count(engine, Distributor) == 0


def test_parent_may_skip_a_tier(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", DISTRIBUTOR_HEADER + "G1,一级商,1,\nG3,三级商,3,G1\n")

    report = _import(engine, tenant, "distributors", path)

    assert report.inserted == 2
    assert _distributors(engine) == {"G1": (1, None), "G3": (3, "G1")}


def test_first_tier_with_a_parent_is_rejected(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "d.csv", DISTRIBUTOR_HEADER + "G1,一级商,1,\nG0,另一一级,一级经销商,G1\n"
    )

    assert _rejected(engine, tenant, "distributors", path) == [
        (3, "parent_id(上级经销商)", "G1", "一级经销商不应有上级经销商"),
    ]
    assert _count(engine, Distributor) == 0


def test_unknown_and_self_parents_are_rejected(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    path = write(tmp_path, "d.csv", DISTRIBUTOR_HEADER + "G2,二级商,2,G9\nG3,三级商,3,G3\n")

    assert _rejected(engine, tenant, "distributors", path) == [
        (2, "parent_id(上级经销商)", "G9", "上级经销商 G9 不存在（既不在文件中，也不在系统中）"),
        (3, "parent_id(上级经销商)", "G3", "上级经销商不能是自己"),
    ]
    assert _count(engine, Distributor) == 0


def test_distributor_cycle_in_the_file(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given X under Y and Y under X (tiers aside, the cycle is the error)
    path = write(tmp_path, "d.csv", DISTRIBUTOR_HEADER + "G1,一级商,1,\nX,甲,2,Y\nY,乙,3,X\n")

    assert _rejected(engine, tenant, "distributors", path) == [
        (3, "parent_id(上级经销商)", "Y", "上级关系形成循环：X → Y → X"),
        (4, "parent_id(上级经销商)", "X", "上级关系形成循环：X → Y → X"),
    ]
    assert _count(engine, Distributor) == 0


def test_distributor_cycle_with_the_system(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given G2 under G1 in the system
    _import(
        engine,
        tenant,
        "distributors",
        write(tmp_path, "a.csv", DISTRIBUTOR_HEADER + "G1,一级商,1,\nG2,二级商,2,G1\n"),
    )

    # when a file puts G1 (now 3rd tier) under G2
    path = write(tmp_path, "b.csv", DISTRIBUTOR_HEADER + "G1,一级商,3,G2\n")

    # then (the cycle may be named from either node)
    [(row, column, value, reason)] = _rejected(engine, tenant, "distributors", path)
    assert (row, column, value) == (2, "parent_id(上级经销商)", "G2")
    assert reason in {"上级关系形成循环：G1 → G2 → G1", "上级关系形成循环：G2 → G1 → G2"}
    assert _distributors(engine) == {"G1": (1, None), "G2": (2, "G1")}


def test_lowering_a_parent_below_its_children_is_rejected(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given G1 (tier 1) above G2 (tier 2) in the system
    _import(
        engine,
        tenant,
        "distributors",
        write(tmp_path, "a.csv", DISTRIBUTOR_HEADER + "G1,一级商,1,\nG2,二级商,2,G1\n"),
    )

    # when a file makes G1 tier 2
    path = write(tmp_path, "b.csv", DISTRIBUTOR_HEADER + "G1,一级商,2,\n")

    # then G1's row is rejected for the child it would no longer outrank
    assert _rejected(engine, tenant, "distributors", path) == [
        (2, "tier(级别)", "2", "下级经销商 G2（2级）的上级须高一级"),
    ]
    assert _distributors(engine) == {"G1": (1, None), "G2": (2, "G1")}


def test_sample_distributors_form_a_valid_tree(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    report = _import(engine, tenant, "distributors", write(tmp_path, "d.csv", DISTRIBUTORS_CSV))

    assert (report.inserted, report.rejected_rows) == (3, 0)
    assert _distributors(engine) == {"G1": (1, None), "G2": (2, "G1"), "G3": (3, "G2")}


def test_skip_invalid_never_imports_a_child_of_a_rejected_distributor(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "d.csv", DISTRIBUTOR_HEADER + "G1,一级商,1,\nG2,二级商,2,G9\nG3,三级商,3,G2\n"
    )

    report = _import(engine, tenant, "distributors", path, skip_invalid=True)

    distributors = _distributors(engine)
    assert (
        sorted(
            parent
            for _, parent in distributors.values()
            if parent is not None and parent not in distributors
        )
        == []
    )
    assert (report.rejected_rows, sorted(distributors)) == (2, ["G1"])


# --- find_cycles -----------------------------------------------------------------------------


def test_find_cycles_examples() -> None:
    assert find_cycles({}) == []
    assert find_cycles({"a": None, "b": "a", "c": "b"}) == []
    assert find_cycles({"a": "a"}) == [["a"]]
    assert find_cycles({"a": "b", "b": "a"}) == [["a", "b"]]
    assert find_cycles({"x": "a", "a": "b", "b": "c", "c": "a"}) == [["a", "b", "c"]]
    assert find_cycles({"a": "b", "b": "a", "c": "d", "d": "c", "e": "zzz"}) == [
        ["a", "b"],
        ["c", "d"],
    ]


IDS = [f"n{index}" for index in range(8)]


def _on_cycle(parents: dict[str, str | None], node: str) -> bool:
    current = parents.get(node)
    for _ in range(len(parents) + 1):
        if current is None:
            return False
        if current == node:
            return True
        current = parents.get(current)
    return False


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(IDS),
        st.one_of(st.none(), st.sampled_from(IDS), st.sampled_from(["outside1", "outside2"])),
        max_size=len(IDS),
    )
)
def test_find_cycles_returns_each_real_cycle_once(parents: dict[str, str | None]) -> None:
    # when
    cycles = find_cycles(parents)

    # then every returned cycle is a real cycle: each node's parent is the next one
    for cycle in cycles:
        assert len(set(cycle)) == len(cycle)
        for index, node in enumerate(cycle):
            assert parents[node] == cycle[(index + 1) % len(cycle)]
    # and every node lying on a cycle appears in exactly one returned cycle, once
    listed = [node for cycle in cycles for node in cycle]
    assert sorted(listed) == sorted(node for node in parents if _on_cycle(parents, node))
