from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select

from qunyun.core.db import unit_of_work
from qunyun.org.models import Staff

from .channel.sample import DISTRIBUTORS_CSV, STAFF_CSV, STORES_CSV, write
from .conftest import Cli


def test_tenant_create_list_and_duplicate(cli: Cli) -> None:
    assert (
        cli("tenant", "create", "acme", "--name", "示例饮料").output
        == "已创建租户 acme（示例饮料）\n"
    )

    duplicate = cli("tenant", "create", "acme", "--name", "又一个", expect=1)
    bad_slug = cli("tenant", "create", "Acme Drinks", "--name", "x", expect=1)

    assert duplicate.stderr == "错误：租户 'acme' 已存在\n"
    assert bad_slug.stderr.startswith("错误：租户标识 'Acme Drinks' 不合法")
    assert "示例饮料" in cli("tenant", "list").output


def test_tenant_option_is_optional_only_with_exactly_one_tenant(cli: Cli, tmp_path: Path) -> None:
    staff = write(tmp_path, "staff.csv", STAFF_CSV)

    none_yet = cli("import", "staff", staff, expect=1)
    cli("tenant", "create", "acme", "--name", "A")
    one = cli("import", "staff", staff)
    cli("tenant", "create", "beta", "--name", "B")
    two = cli("import", "staff", staff, expect=1)
    unknown = cli("status", "--tenant", "gamma", expect=1)

    assert (
        none_yet.stderr
        == "错误：还没有租户（品牌）：请先运行 qunyun tenant create SLUG --name 名称\n"
    )
    assert "新增 6" in one.output
    assert two.stderr == "错误：有 2 个租户，请用 --tenant SLUG 指定一个\n"
    assert unknown.stderr == "错误：没有名为 'gamma' 的租户（品牌）；已有：acme, beta\n"


def test_status_json_counts_entities_and_stores_per_region(cli: Cli, tmp_path: Path) -> None:
    cli("tenant", "create", "acme", "--name", "示例饮料")
    cli("import", "staff", write(tmp_path, "s.csv", STAFF_CSV))
    cli("import", "distributors", write(tmp_path, "d.csv", DISTRIBUTORS_CSV))
    cli("import", "stores", write(tmp_path, "st.csv", STORES_CSV))

    result = cli("status", "--tenant", "acme", "--json")

    assert json.loads(result.stdout) == {
        "tenant": "acme",
        "name": "示例饮料",
        "staff": 6,
        "distributors": 3,
        "stores": 3,
        "consumers": 0,
        "groups": 0,
        "stores_active": 2,
        "stores_by_region": {"广东省": 3},
    }


def test_rejected_import_exits_1_names_row_and_column_and_writes_rejects(
    cli: Cli, tmp_path: Path
) -> None:
    cli("tenant", "create", "acme", "--name", "A")
    cli("import", "staff", write(tmp_path, "s.csv", STAFF_CSV))
    bad = write(
        tmp_path,
        "stores.csv",
        "store_id,name,province,city,district,store_type,rep_id\nS1,店,广东,广州,火星区,便利店,R1\n",
    )
    rejects = tmp_path / "out" / "rejects.csv"

    result = cli("import", "stores", bad, "--rejects", rejects, expect=1)

    assert "广东省广州市没有区县“火星区”" in result.stderr
    assert "错误：stores.csv：1 行有错误，未写入任何数据（共 1 行）" in result.stderr
    assert f"全部 1 条错误（1 行）已写入 {rejects}" in result.stderr
    assert rejects.read_text(encoding="utf-8-sig").splitlines()[1] == (
        "2,S1,店,广东,广州,火星区,便利店,R1,district(区/区县)：广东省广州市没有区县“火星区”"
    )


def test_staff_leave_keeps_the_row(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    cli("tenant", "create", "acme", "--name", "A")
    cli("import", "staff", write(tmp_path, "s.csv", STAFF_CSV))

    result = cli("staff", "leave", "R2")
    again = cli("staff", "leave", "R2", expect=1)
    unknown = cli("staff", "leave", "nobody", expect=1)

    assert result.output.startswith("已登记 钱业务（R2）于 ")
    assert again.stderr.startswith("错误：员工 R2 已于 ")
    assert unknown.stderr == "错误：没有员工 'nobody'\n"
    with unit_of_work(engine) as session:
        left = session.scalars(select(Staff.staff_id).where(Staff.left_at.is_not(None))).all()
    assert left == ["R2"]


def test_tenant_delete_removes_every_row_of_that_tenant_only(cli: Cli, tmp_path: Path) -> None:
    for slug in ("acme", "beta"):
        cli("tenant", "create", slug, "--name", slug)
        cli("import", "staff", write(tmp_path, "s.csv", STAFF_CSV), "-t", slug)
        cli("import", "distributors", write(tmp_path, "d.csv", DISTRIBUTORS_CSV), "-t", slug)
        cli("import", "stores", write(tmp_path, "st.csv", STORES_CSV), "-t", slug)

    refused = cli("tenant", "delete", "acme", expect=2)
    cli("tenant", "delete", "acme", "--yes")

    assert "--yes" in refused.stderr
    assert json.loads(cli("status", "--json").stdout)["stores"] == 3
    assert cli("status", "-t", "acme", expect=1).stderr.startswith("错误：没有名为 'acme' 的租户")


def test_bad_configuration_is_a_clear_error(cli: Cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from qunyun.core import settings

    monkeypatch.setenv("QUNYUN_DATABASE_URL", "mysql://nobody@localhost/x")
    settings.get_settings.cache_clear()

    result = cli("status", expect=2)

    assert result.stderr.startswith("错误：配置有误 (bad configuration): QUNYUN_DATABASE_URL: ")
    assert "unsupported database 'mysql'" in result.stderr
