"""Imports that meet staff who left: keeping a departed person's rows, refusing new ones."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from qunyun.channel.models import Store
from qunyun.core.db import unit_of_work
from qunyun.org.models import Staff

from ..conftest import Cli
from .sample import DISTRIBUTORS_CSV, STAFF_CSV, STORES_CSV, write

LEAVE_HEADER = "staff_id,name,role,manager_id,left_at\n"
STORE_HEADER = "store_id,name,province,city,district,store_type,rep_id\n"
R2_LEFT = "业务员 R2 已离职（2026-11-20），请改派在职业务员（已交接的门店填接手人）"
HANDOVER_HINT = "请用 qunyun handover --from 离职人 --to 接手人 交接"


def _stores(engine: Engine) -> dict[str, tuple[str, str, object]]:
    with unit_of_work(engine) as session:
        return {
            store_id: (name, rep_id, updated_at)
            for store_id, name, rep_id, updated_at in session.execute(
                select(Store.store_id, Store.name, Store.rep_id, Store.updated_at)
            )
        }


def _staff(engine: Engine) -> dict[str, tuple[str | None, object, object]]:
    with unit_of_work(engine) as session:
        return {
            staff_id: (manager_id, left_at, updated_at)
            for staff_id, manager_id, left_at, updated_at in session.execute(
                select(Staff.staff_id, Staff.manager_id, Staff.left_at, Staff.updated_at)
            )
        }


def _rejects(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))[1:]


def _loaded(cli: Cli, tmp_path: Path) -> Path:
    """Create tenant acme with the sample staff, distributors and stores; return the stores file."""
    cli("tenant", "create", "acme", "--name", "A")
    cli("import", "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    cli("import", "distributors", write(tmp_path, "d.csv", DISTRIBUTORS_CSV))
    stores = write(tmp_path, "stores.csv", STORES_CSV)
    cli("import", "stores", stores)
    return stores


def _r2_leaves(cli: Cli, tmp_path: Path) -> None:
    """Let rep R2 (store S0002) leave on 2026-11-20, through a staff file with a left_at column."""
    cli(
        "import",
        "staff",
        write(tmp_path, "left.csv", LEAVE_HEADER + "R2,钱业务,业务员,S1,2026-11-20\n"),
    )


def test_reimporting_the_weekly_file_after_a_rep_left_is_accepted_unchanged(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given the weekly store file imported, then rep R2 (store S0002) leaves before a handover
    stores = _loaded(cli, tmp_path)
    cli("staff", "leave", "R2")
    before = _stores(engine)

    # when the same file comes again
    result = cli("import", "stores", stores)

    # then it is accepted, nothing changes, and the handover still to do is named
    assert "读取 3 行 · 新增 0 · 更新 0 · 未变 3 · 拒绝 0" in result.output
    assert f"待交接：1 名离职人员名下仍有门店 1 家、在职下属 0 人；{HANDOVER_HINT}" in result.output
    assert _stores(engine) == before


def test_a_changed_row_may_keep_its_departed_rep_and_is_updated(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given R2 left on 2026-11-20 and still serves S0002
    _loaded(cli, tmp_path)
    _r2_leaves(cli, tmp_path)

    # when the distributor's file renames S0002 and keeps R2 as its rep
    renamed = write(
        tmp_path, "renamed.csv", STORE_HEADER + "S0002,越秀华润万家(新),广东,广州,越秀,超市,R2\n"
    )
    result = cli("import", "stores", renamed)

    # then the name changes, the store stays with R2 until the handover, and the summary says so
    assert result.output.splitlines() == [
        "门店 renamed.csv（utf-8）：读取 1 行 · 新增 0 · 更新 1 · 未变 0 · 拒绝 0",
        f"待交接：1 名离职人员名下仍有门店 1 家、在职下属 0 人；{HANDOVER_HINT}",
        "  R2 钱业务（2026-11-20 离职）：门店 1 家",
    ]
    assert _stores(engine)["S0002"][:2] == ("越秀华润万家(新)", "R2")


def test_no_row_may_give_a_store_to_a_rep_who_left(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given R2 left on 2026-11-20; R1 serves S0001 and S0003, R2 still serves S0002
    _loaded(cli, tmp_path)
    _r2_leaves(cli, tmp_path)
    before = _stores(engine)

    # when a file keeps S0002 with R2, but moves S0001 to R2 and opens a new store for R2
    bad = write(
        tmp_path,
        "bad.csv",
        STORE_HEADER
        + "S0002,越秀华润万家,广东,广州,越秀,超市,R2\n"
        + "S0001,天河好邻居便利店,广东,广州,天河,便利店,R2\n"
        + "S0009,新开的店,广东,广州,天河,便利店,R2\n",
    )
    rejects = tmp_path / "rejects.csv"
    result = cli("import", "stores", bad, "--rejects", rejects, expect=1)

    # then both rows that give R2 a store are refused with the reason, and nothing is written
    assert "错误：bad.csv：2 行有错误，未写入任何数据（共 3 行）" in result.stderr
    assert _rejects(rejects) == [
        [
            "3",
            "S0001",
            "天河好邻居便利店",
            "广东",
            "广州",
            "天河",
            "便利店",
            "R2",
            f"rep_id(业务员编号)：{R2_LEFT}",
        ],
        [
            "4",
            "S0009",
            "新开的店",
            "广东",
            "广州",
            "天河",
            "便利店",
            "R2",
            f"rep_id(业务员编号)：{R2_LEFT}",
        ],
    ]
    assert _stores(engine) == before


def test_after_the_handover_the_file_must_name_the_taker(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given R2 left and handed S0002 over to R1
    stores = _loaded(cli, tmp_path)
    _r2_leaves(cli, tmp_path)
    cli("handover", "--from", "R2", "--to", "R1")

    # when the old weekly file (S0002 with R2) comes, then the file naming R1
    rejects = tmp_path / "rejects.csv"
    stale = cli("import", "stores", stores, "--rejects", rejects, expect=1)
    fixed = write(tmp_path, "fixed.csv", STORES_CSV.replace(",R2,G3,", ",R1,G3,"))
    result = cli("import", "stores", fixed)

    # then the stale row would give the store back to R2 and is refused; the fixed file changes
    # nothing, and no handover is left to do
    assert [row[0] for row in _rejects(rejects)] == ["3"]
    assert _rejects(rejects)[0][-1] == f"rep_id(业务员编号)：{R2_LEFT}"
    assert "错误：stores.csv：1 行有错误，未写入任何数据（共 3 行）" in stale.stderr
    assert result.output.splitlines() == [
        "门店 fixed.csv（utf-8）：读取 3 行 · 新增 0 · 更新 0 · 未变 3 · 拒绝 0"
    ]
    assert _stores(engine)["S0002"][1] == "R1"


def test_staff_may_keep_a_manager_who_left_but_not_be_given_one(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given supervisor S1 (manager of R1 and R2) left on 2026-11-20
    _loaded(cli, tmp_path)
    cli(
        "import",
        "staff",
        write(tmp_path, "left.csv", LEAVE_HEADER + "S1,张主管,主管,M1,2026-11-20\n"),
    )
    before = _staff(engine)

    # when the HR file comes again unchanged, then with a new rep R3 and A1 moved under S1
    again = cli("import", "staff", tmp_path / "staff.csv")
    rejects = tmp_path / "rejects.csv"
    bad = write(
        tmp_path,
        "bad.csv",
        "staff_id,name,role,manager_id\n"
        "R1,赵业务,业务员,S1\n"
        "R3,李业务,业务员,S1\n"
        "A1,孙群管,群管理员,S1\n",
    )
    refused = cli("import", "staff", bad, "--rejects", rejects, expect=1)

    # then the unchanged file is accepted (R1 and R2 wait for S1's handover); giving S1 a new
    # report is refused, row by row, and nothing is written
    assert again.output.splitlines() == [
        "员工 staff.csv（utf-8）：读取 6 行 · 新增 0 · 更新 0 · 未变 6 · 拒绝 0",
        f"待交接：1 名离职人员名下仍有门店 0 家、在职下属 2 人；{HANDOVER_HINT}",
        "  S1 张主管（2026-11-20 离职）：下属 2 人",
    ]
    reason = "上级 S1 已离职（2026-11-20），请改派在职上级（已交接的下属填接手人）"
    assert _rejects(rejects) == [
        ["3", "R3", "李业务", "业务员", "S1", f"manager_id(上级编号)：{reason}"],
        ["4", "A1", "孙群管", "群管理员", "S1", f"manager_id(上级编号)：{reason}"],
    ]
    assert "错误：bad.csv：2 行有错误，未写入任何数据（共 3 行）" in refused.stderr
    assert _staff(engine) == before


def test_a_staff_file_that_lets_a_rep_leave_names_his_stores(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given the sample channel: R1 serves S0001 and S0003
    _loaded(cli, tmp_path)

    # when the HR file records that R1 left
    result = cli(
        "import",
        "staff",
        write(tmp_path, "left.csv", LEAVE_HEADER + "R1,赵业务,业务员,S1,2026-11-20\n"),
    )

    # then the import lists the stores waiting for his handover
    assert result.output.splitlines() == [
        "员工 left.csv（utf-8）：读取 1 行 · 新增 0 · 更新 1 · 未变 0 · 拒绝 0",
        f"待交接：1 名离职人员名下仍有门店 2 家、在职下属 0 人；{HANDOVER_HINT}",
        "  R1 赵业务（2026-11-20 离职）：门店 2 家",
    ]


# --- property ----------------------------------------------------------------------------

REPS = ("R1", "R2", "R3")
LEAVERS = ("R1", "R2", "R3", "S1", "M1")
STAFF_WITH_R3 = STAFF_CSV + "R3,孙业务,业务员,S1,广州市海珠区,\n"
_tenants = itertools.count(1)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # an example is seconds of CLI
)
@given(
    reps=st.lists(st.sampled_from(REPS), min_size=1, max_size=8),
    leavers=st.sets(st.sampled_from(LEAVERS)),
    moves=st.data(),
)
def test_reimports_are_accepted_whoever_left_and_only_rows_giving_a_leaver_a_store_are_refused(
    cli: Cli,
    engine: Engine,
    tmp_path: Path,
    reps: list[str],
    leavers: set[str],
    moves: st.DataObject,
) -> None:
    # given a channel imported, then some staff leave (reps, their supervisor, his manager)
    slug = f"brand-{next(_tenants)}"
    directory = tmp_path / slug
    directory.mkdir()
    rows = [
        f"T{index:03d},店{index},广东,广州,天河,便利店,{rep}\n" for index, rep in enumerate(reps)
    ]
    staff = write(directory, "staff.csv", STAFF_WITH_R3)
    stores = write(directory, "stores.csv", STORE_HEADER + "".join(rows))
    cli("tenant", "create", slug, "--name", "随机品牌")
    try:
        cli("import", "staff", staff, "-t", slug)
        cli("import", "stores", stores, "-t", slug)
        for person in sorted(leavers):
            cli("staff", "leave", person, "-t", slug)
        before = (_stores(engine), _staff(engine))

        # when the same files come again
        staff_again = cli("import", "staff", staff, "-t", slug)
        stores_again = cli("import", "stores", stores, "-t", slug)

        # then both are accepted and change nothing
        assert "新增 0 · 更新 0 · 未变 7 · 拒绝 0" in staff_again.output
        assert f"新增 0 · 更新 0 · 未变 {len(reps)} · 拒绝 0" in stores_again.output
        assert (_stores(engine), _staff(engine)) == before

        # when a file moves stores to other reps
        moved = moves.draw(st.lists(st.sampled_from(REPS), min_size=len(reps), max_size=len(reps)))
        moving = write(
            directory,
            "moved.csv",
            STORE_HEADER
            + "".join(
                row.replace(f",{old}\n", f",{new}\n")
                for row, old, new in zip(rows, reps, moved, strict=True)
            ),
        )
        rejects = directory / "rejects.csv"
        refused = [
            str(index + 2)
            for index, (old, new) in enumerate(zip(reps, moved, strict=True))
            if new != old and new in leavers
        ]
        result = cli("import", "stores", moving, "-t", slug, "--rejects", rejects, expect=None)

        # then exactly the rows that give a store to a rep who left are refused
        event("refused" if refused else "accepted")
        if refused:
            assert result.exit_code == 1
            assert [row[0] for row in _rejects(rejects)] == refused
            assert _stores(engine) == before[0]
        else:
            changed = sum(old != new for old, new in zip(reps, moved, strict=True))
            assert result.exit_code == 0, result.output
            assert f"更新 {changed} · 未变 {len(reps) - changed} · 拒绝 0" in result.output
    finally:
        cli("tenant", "delete", slug, "--yes")
