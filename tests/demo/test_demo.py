from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import Counter
from datetime import date
from pathlib import Path

from qunyun.core.settings import get_settings
from qunyun.demo.generator import generate

from ..conftest import Cli


def _digest(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.glob("*.csv"))
    }


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    generate(tmp_path / "a", stores=400, seed=7)
    generate(tmp_path / "b", stores=400, seed=7)
    generate(tmp_path / "c", stores=400, seed=8)

    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["stores.csv"] != _digest(tmp_path / "c")["stores.csv"]


def test_demo_brand_has_the_shape_of_a_real_channel(tmp_path: Path) -> None:
    files = generate(tmp_path, stores=3000, seed=1)

    with files.staff.open(encoding="utf-8") as handle:
        staff = list(csv.DictReader(handle))
    with files.stores.open(encoding="utf-8") as handle:
        stores = list(csv.DictReader(handle))
    roles = [row["role"] for row in staff]
    managers = {row["staff_id"]: row["manager_id"] for row in staff}
    role_of = {row["staff_id"]: row["role"] for row in staff}

    assert roles.count("director") == 1
    assert roles.count("manager") == 4
    assert roles.count("rep") == 12  # one per ~250 stores
    # every rep has a supervisor above him and a manager above that
    for rep in (row["staff_id"] for row in staff if row["role"] == "rep"):
        assert role_of[managers[rep]] == "supervisor"
        assert role_of[managers[managers[rep]]] == "manager"
    # a rep's stores lie in one province: one served market is one unit
    provinces_of_rep: dict[str, set[str]] = {}
    for store in stores:
        provinces_of_rep.setdefault(store["rep_id"], set()).add(store["province"])
    assert all(len(provinces) == 1 for provinces in provinces_of_rep.values())
    assert {store["province"] for store in stores} == {"广东省", "浙江省", "四川省", "河南省"}
    assert files.counts == {
        "staff": len(staff),
        "distributors": 10 * (1 + 3 + 3 * 2),
        "stores": 3000,
        "consumers": 4000,
    }


def test_demo_command_builds_the_tenant_and_rerun_recreates_it(cli: Cli) -> None:
    first = cli("demo", "--stores", "300", "--days", "14", "--no-serve")
    report = json.loads(cli("report", "--tenant", "demo", "--json").stdout)
    cli("tenant", "create", "acme", "--name", "另一个品牌")
    second = cli("demo", "--stores", "300", "--consumers", "50", "--days", "0", "--no-serve")
    after = json.loads(cli("report", "--tenant", "demo", "--json").stdout)

    status = json.loads(cli("status", "--tenant", "demo", "--json").stdout)
    with (get_settings().home / "demo" / "stores.csv").open(encoding="utf-8") as handle:
        active = Counter(row["rep_id"] for row in csv.DictReader(handle) if row["status"] == "营业")
    store_groups = sum(math.ceil(count / 200) for count in active.values())
    assert "演示品牌已就绪" in first.output
    assert "qunyun status --tenant demo" in first.output
    assert "删除旧的演示租户 demo" in second.output
    # 14 days of activity up to yesterday went through the event import; the rebuilt tenant
    # without activity does not see the old tenant's lake
    assert f"导入事件 events.parquet：{report['events']:,} 条" in first.output
    assert report["events"] > 1000
    assert (
        date.fromisoformat(report["last_day"]) - date.fromisoformat(report["first_day"])
    ).days == 13
    assert "导入事件" not in second.output
    assert after["events"] == 0
    assert (status["stores"], status["consumers"]) == (300, 50)
    assert f"规划并应用社群矩阵：{status['groups']} 个群" in second.output
    export = get_settings().home / "m.csv"
    cli("plan", "export", "--out", export, "--tenant", "demo")
    with export.open(encoding="utf-8") as handle:
        planned = {row["group_id"] for row in csv.DictReader(handle) if row["matrix"] == "store"}
    assert len(planned) == store_groups
    # director, managers, a supervisor per region, reps 3+2+2+2 (at least 2 per region), admins
    assert status["staff"] == 1 + 4 + 4 + 9 + 4
    assert sum(status["stores_by_region"].values()) == 300


def test_the_demo_report_shows_every_analysis(cli: Cli) -> None:
    # given: a small demo brand with five weeks of activity
    cli("demo", "--stores", "300", "--days", "35", "--no-serve")

    # when
    report = json.loads(cli("report", "--tenant", "demo", "--json").stdout)
    printed = cli("report", "--tenant", "demo").output

    # then: every analysis has something to show
    assert all(
        report["member_levels"][level] > 0 for level in ("core", "active", "casual", "lurker")
    )
    assert report["leaders"] > 0
    assert len(report["silent_leaders"]) > 0  # bosses who never speak
    assert report["group_health"]["dead"] > 0
    assert report["group_health"]["active"] > 0
    assert report["vip_candidates"]["stores"] > 0
    assert report["vip_candidates"]["top"]
    assert [row["matrix"] for row in report["funnel"]] == ["dealer", "store", "consumer", "vip"]
    assert all(row["activated"] > 0 for row in report["funnel"])
    assert report["cohorts"]
    assert report["cohorts"][0]["members"] > 0
    assert report["cohorts"][0]["active"][0] > 0
    assert report["reach"]["contents"]
    assert report["reach"]["mean_share"]["store"] > 0
    assert report["referrals"]["top"][0]["total"] > 0
    for title in (
        "成员等级",
        "群健康度",
        "沉默的领导",
        "VIP 候选门店",
        "AARRR 漏斗",
        "周留存（按首次入群周）",
        "内容逐级触达",
        "推荐排行榜",
    ):
        assert title in printed
