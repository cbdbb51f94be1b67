"""The store-matrix plan end to end: compute, apply, export, re-plan, refusal on change."""

from __future__ import annotations

import csv
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import Engine, select

from qunyun.core.db import unit_of_work
from qunyun.groups.models import PlanRevision, RevisionStatus
from qunyun.org.models import Staff

from ..channel.sample import write
from ..conftest import Cli
from .brand import plan_brand, store_groups, stores_csv

HEADER = "group_id,group_name,matrix,territory_rep_id,member_kind,member_id,member_role"


def _export(cli: Cli, path: Path, matrix: str | None = "store") -> list[dict[str, str]]:
    """Return the exported memberships of ``matrix`` (of every matrix for None)."""
    cli("plan", "export", "--out", path)
    with path.open(encoding="utf-8", newline="") as handle:
        assert handle.readline().rstrip("\r\n") == HEADER
        handle.seek(0)
        return [row for row in csv.DictReader(handle) if matrix in (None, row["matrix"])]


def test_applied_plan_follows_the_store_matrix_rules(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given the demo brand (it plans and applies its matrix at the end)
    cli("demo", "--stores", "900", "--consumers", "0", "--no-serve", "--days", "0")

    # when the memberships are exported
    rows = _export(cli, tmp_path / "m.csv")

    # then every active store is a customer of exactly one group of its rep's territory
    with unit_of_work(engine) as session:
        staff = {p.staff_id: p for p in session.scalars(select(Staff))}
    demo = _demo_stores(cli)
    active = {sid: rep for sid, (rep, status) in demo.items() if status == "营业"}
    customers = [row for row in rows if row["member_role"] == "customer"]
    assert sorted(row["member_id"] for row in customers) == sorted(active)
    assert all(row["territory_rep_id"] == active[row["member_id"]] for row in customers)
    by_group: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_group[row["group_id"]].append(row)
    per_rep = Counter(active.values())
    assert Counter(group[0]["territory_rep_id"] for group in by_group.values()) == {
        rep: math.ceil(count / 200) for rep, count in per_rep.items()
    }
    for group in by_group.values():
        rep = group[0]["territory_rep_id"]
        size = sum(1 for row in group if row["member_role"] == "customer")
        assert size <= 200
        assert size >= 30 or per_rep[rep] < 30
        # the rep, the two levels above, and one admin hold the staff seats
        supervisor = staff[rep].manager_id
        manager = staff[supervisor].manager_id  # type: ignore[index]
        seats = sorted(
            (row["member_id"], row["member_role"]) for row in group if row["member_kind"] == "staff"
        )
        admins = [member for member, role in seats if role == "admin"]
        assert len(admins) == 1
        assert sorted(seat for seat in seats if seat[1] != "admin") == sorted(
            [(rep, "rep"), (supervisor, "supervisor"), (manager, "manager")]
        )
        assert all(row["matrix"] == "store" for row in group)
        assert re.fullmatch(
            r".+·(便利店|超市|餐饮|烟酒店|母婴店|批发部|其他)[ABCD]类·.+服务群 \d{2}",
            group[0]["group_name"],
        )


def _demo_stores(cli: Cli) -> dict[str, tuple[str, str]]:
    from qunyun.core.settings import get_settings

    with (get_settings().home / "demo" / "stores.csv").open(encoding="utf-8") as handle:
        return {row["store_id"]: (row["rep_id"], row["status"]) for row in csv.DictReader(handle)}


def test_replanning_an_applied_matrix_changes_nothing(cli: Cli) -> None:
    cli("demo", "--stores", "400", "--consumers", "0", "--no-serve", "--days", "0")

    result = cli("plan")

    assert "社群矩阵已符合规则，无需变更。" in result.output


def test_a_closed_store_leaves_and_nothing_else_moves(cli: Cli, tmp_path: Path) -> None:
    # given an applied matrix
    cli("demo", "--stores", "400", "--consumers", "0", "--no-serve", "--days", "0")
    before = _export(cli, tmp_path / "before.csv")
    store = next(row["member_id"] for row in before if row["member_role"] == "customer")
    closing = write(
        tmp_path,
        "close.csv",
        f"store_id,name,province,city,district,store_type,rep_id,status\n"
        f"{store},关店,广东,广州,天河,便利店,{next(r['territory_rep_id'] for r in before if r['member_id'] == store)},关闭\n",
    )
    cli("import", "stores", closing)

    # when the plan is computed and applied
    cli("plan")
    cli("plan", "apply")

    # then exactly that store left its group
    after = _export(cli, tmp_path / "after.csv")
    key = lambda row: (row["group_id"], row["member_kind"], row["member_id"], row["member_role"])  # noqa: E731
    assert {key(row) for row in before} - {key(row) for row in after} == {
        next(key(row) for row in before if row["member_id"] == store)
    }
    assert {key(row) for row in after} - {key(row) for row in before} == set()


def test_apply_refuses_when_the_channel_changed_since_the_plan(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")
    cli("plan")
    cli("staff", "leave", "R0001")

    refused = cli("plan", "apply", expect=1)

    assert (
        "计算之后渠道数据（门店、员工或社群）有变化，未应用：请重新运行 qunyun plan"
        in refused.stderr
    )
    with unit_of_work(engine) as session:
        statuses = session.scalars(select(PlanRevision.status).order_by(PlanRevision.id)).all()
    assert statuses == [RevisionStatus.APPLIED, RevisionStatus.PENDING]


def test_apply_without_a_pending_plan_is_a_clear_error(cli: Cli) -> None:
    cli("tenant", "create", "acme", "--name", "A")

    result = cli("plan", "apply", expect=1)

    assert result.stderr == "错误：没有待应用的计划：请先运行 qunyun plan\n"


def test_dealer_consumer_and_vip_matrices_after_the_demo(cli: Cli, tmp_path: Path) -> None:
    from qunyun.core.settings import get_settings

    cli("demo", "--stores", "600", "--consumers", "900", "--no-serve", "--days", "0")
    home = get_settings().home / "demo"
    with (home / "distributors.csv").open(encoding="utf-8") as handle:
        distributors = list(csv.DictReader(handle))
    with (home / "consumers.csv").open(encoding="utf-8") as handle:
        consumers = list(csv.DictReader(handle))

    dealer = _export(cli, tmp_path / "d.csv", "dealer")
    consumer = _export(cli, tmp_path / "c.csv", "consumer")
    vip = _export(cli, tmp_path / "v.csv", "vip")

    # every distributor sits in exactly one dealer group as a customer: tier 1 with its
    # province, lower tiers in their tier-1's network (whose boss is a member there too)
    customers = sorted(row["member_id"] for row in dealer if row["member_role"] == "customer")
    tier_one = {d["distributor_id"] for d in distributors if d["tier"] == "1"}
    assert sorted(set(customers)) == sorted(d["distributor_id"] for d in distributors)
    assert len(customers) == len(distributors) + len(tier_one)  # each boss also sits in his network
    directors = {row["group_id"] for row in dealer if row["member_role"] == "director"}
    assert directors == {
        row["group_id"] for row in dealer if row["group_name"].endswith("一级经销商群 01")
    }
    # seed users and KOLs each in exactly one consumer group
    wanted = sorted(c["consumer_id"] for c in consumers if c["role"] in ("种子用户", "KOL"))
    assert (
        sorted(row["member_id"] for row in consumer if row["member_kind"] == "consumer") == wanted
    )
    assert {
        row["member_role"]
        for row in consumer
        if row["member_id"] in {c["consumer_id"] for c in consumers if c["role"] == "KOL"}
    } == {"kol"}
    # one VIP group per province, each store also still in its store group
    assert len({row["group_id"] for row in vip}) == 4
    store_members = {
        row["member_id"]
        for row in _export(cli, tmp_path / "s.csv")
        if row["member_kind"] == "store"
    }
    assert {row["member_id"] for row in vip if row["member_kind"] == "store"} <= store_members
    # and a second plan changes nothing
    assert "社群矩阵已符合规则，无需变更。" in cli("plan").output


def test_apply_refuses_after_a_store_import_or_a_membership_change(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    from qunyun.channel.models import ContactKind
    from qunyun.groups.actions import do_leave
    from qunyun.org.access import Actor, access_tenant

    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")
    store = _export(cli, tmp_path / "m.csv")[0]
    cli("plan")
    renamed = write(
        tmp_path,
        "s.csv",
        "store_id,name,province,city,district,store_type,rep_id\n"
        f"{'ST0000001'},改名的店,四川,成都,锦江,便利店,{_demo_stores(cli)['ST0000001'][0]}\n",
    )
    cli("import", "stores", renamed, "--tenant", "demo")
    assert "未应用" in cli("plan", "apply", expect=1).stderr

    cli("plan")
    with unit_of_work(engine) as session:
        tenant = access_tenant(session, Actor.operator(), "demo")
        do_leave(
            session,
            tenant,
            store["group_id"],
            ContactKind(store["member_kind"]),
            store["member_id"],
        )
    assert "未应用" in cli("plan", "apply", expect=1).stderr


def test_the_revision_keeps_its_whole_summary_as_json(cli: Cli, engine: Engine) -> None:
    import json

    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")

    with unit_of_work(engine) as session:
        summary = session.scalars(select(PlanRevision.summary)).one()
    rows = json.loads(summary)

    assert (
        sum(row.get("groups_created", 0) for row in rows)
        == json.loads(cli("status", "--json").stdout)["groups"]
    )
    assert {row["matrix"] for row in rows} == {"store", "dealer", "vip"}


def test_a_store_changing_reps_counts_as_one_member_moved(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    import json

    # given an applied matrix and a store of one rep handed to another rep by an import
    cli("demo", "--stores", "400", "--consumers", "0", "--no-serve", "--days", "0")
    before = _export(cli, tmp_path / "before.csv")
    store, rep = next(
        (row["member_id"], row["territory_rep_id"])
        for row in before
        if row["member_role"] == "customer"
    )
    other = sorted({row["territory_rep_id"] for row in before} - {rep})[0]
    moving = write(
        tmp_path,
        "move.csv",
        "store_id,name,province,city,district,store_type,rep_id,status\n"
        f"{store},换人,广东,广州,天河,便利店,{other},营业\n",
    )
    cli("import", "stores", moving)

    # when the plan is computed
    cli("plan")

    # then its summary counts the store once as moved, in the store matrix only
    with unit_of_work(engine) as session:
        summary = session.scalars(
            select(PlanRevision.summary).where(PlanRevision.status == RevisionStatus.PENDING)
        ).one()
    moved = Counter()
    for row in json.loads(summary):
        moved[row["matrix"]] += row.get("members_moved", 0)
    assert +moved == Counter({"store": 1})


def test_a_territory_shrinking_to_one_group_counts_a_merge_and_a_plain_archive_does_not(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    import json

    # given R1's 230 stores in two groups of 115 and R2's 40 in one
    groups = plan_brand(cli, tmp_path, {"R1": 230, "R2": 40})
    assert sorted(map(len, groups["R1"].values())) == [115, 115]
    small, big = sorted(groups["R1"])  # of one size: the one that shrinks is the small one
    (r2_group,) = groups["R2"]

    # when 90 stores of one R1 group close (25 stay, under the minimum of 30) and all of R2's
    closing = groups["R1"][small][:90] + groups["R2"][r2_group]
    rep_of = {sid: "R1" if sid.startswith("T1") else "R2" for sid in closing}
    cli("import", "stores", stores_csv(tmp_path, "close.csv", rep_of, status="关闭"))
    result = cli("plan")

    # then the small R1 group is merged into the other (its 25 stores move there), R2's group
    # is archived without a merge, and each loses its four staff seats
    expected = {
        "groups_created": 0,
        "groups_archived": 2,
        "groups_merged": 1,
        "members_added": 25,
        "members_removed": 90 + 25 + 40,
        "members_moved": 25,
        "staff_seats_added": 0,
        "staff_seats_removed": 8,
    }
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.output.splitlines()
        if line.startswith("│")
    ]
    values = [str(count) for count in expected.values()]
    assert rows == [["终端店群", "广东省", *values], ["合计", "", *values]]
    with unit_of_work(engine) as session:
        summary = session.scalars(
            select(PlanRevision.summary).where(PlanRevision.status == RevisionStatus.PENDING)
        ).one()
    assert json.loads(summary) == [
        {"matrix": "store", "region": "广东省", **{k: v for k, v in expected.items() if v}}
    ]
    cli("plan", "apply")
    assert store_groups(cli, tmp_path / "after.csv") == {
        "R1": {big: sorted(groups["R1"][big] + groups["R1"][small][90:])}
    }
    # and the history shows the merge beside the archives (其中合并)
    history = cli("plan", "history").output
    header = next(line for line in history.splitlines() if "其中合并" in line)
    assert [cell.strip() for cell in header.split("┃")[5:-1]] == [
        "新建群",
        "归档群",
        "其中合并",
        "加入成员",
        "移出成员",
    ]
    second = next(line for line in history.splitlines() if line.startswith("│ #2 "))
    assert [cell.strip() for cell in second.split("│")[5:-1]] == ["0", "2", "1", "25", "155"]


def test_plan_history_and_show_read_back_what_each_plan_did(cli: Cli, tmp_path: Path) -> None:
    # given the demo's applied matrix, then a store closed and that plan applied too
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")
    before = _export(cli, tmp_path / "before.csv")
    seat = next(row for row in before if row["member_role"] == "customer")
    closing = write(
        tmp_path,
        "close.csv",
        "store_id,name,province,city,district,store_type,rep_id,status\n"
        f"{seat['member_id']},关店,广东,广州,天河,便利店,{seat['territory_rep_id']},关闭\n",
    )
    cli("import", "stores", closing)
    cli("plan")
    cli("plan", "apply")

    # when the history is listed and the second plan's diff written out
    history = cli("plan", "history").output
    shown = cli("plan", "show", "2", "--out", tmp_path / "diff.csv").output
    missing = cli("plan", "show", "3", expect=1)

    # then both plans are there, applied, and the diff is the one leave
    assert re.search(r"│ #2 +│ 已应用 .*│ 0 +│ 0 +│ 0 +│ 0 +│ 1 +│", history)
    assert re.search(r"│ #1 +│ 已应用 .*│ [1-9][0-9,]* +│ 0 +│ 0 +│ [1-9][0-9,]* +│ 0 +│", history)
    assert history.index("#2") < history.index("#1")
    lines = shown.splitlines()
    assert re.fullmatch(r"计划 #2（已应用）：\S+ \S+ 由 cli 计算，\S+ \S+ 由 cli 应用", lines[0])
    assert lines[1:] == ["移出 1", f"已导出 1 行变更到 {tmp_path / 'diff.csv'}"]
    with (tmp_path / "diff.csv").open(encoding="utf-8", newline="") as handle:
        assert list(csv.reader(handle)) == [
            [
                "change",
                "group_id",
                "group_name",
                "matrix",
                "territory_rep_id",
                "member_kind",
                "member_id",
                "member_role",
            ],
            [
                "leave",
                seat["group_id"],
                "",
                "store",
                seat["territory_rep_id"],
                "store",
                seat["member_id"],
                "customer",
            ],
        ]
    assert "没有计划 #3：qunyun plan history 列出全部计划" in missing.stderr
