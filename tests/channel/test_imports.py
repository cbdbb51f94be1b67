from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from qunyun.channel.imports import ImportRejected, do_import
from qunyun.channel.models import (
    Consumer,
    Distributor,
    Growth,
    ImportRun,
    ScaleTier,
    Store,
    StoreStatus,
    StoreType,
)
from qunyun.core.db import unit_of_work
from qunyun.org.models import Staff, StaffRole, Tenant

from .sample import CONSUMERS_CSV, DISTRIBUTORS_CSV, STAFF_CSV, STORES_CSV, write


def _import(engine: Engine, tenant: Tenant, entity: str, path: Path, **options: object):
    with unit_of_work(engine) as session:
        return do_import(session, tenant, entity, path, **options)  # type: ignore[arg-type]


def _load_all(engine: Engine, tenant: Tenant, directory: Path) -> None:
    for entity, text in (
        ("staff", STAFF_CSV),
        ("distributors", DISTRIBUTORS_CSV),
        ("stores", STORES_CSV),
        ("consumers", CONSUMERS_CSV),
    ):
        _import(engine, tenant, entity, write(directory, f"{entity}.csv", text))


def test_gbk_file_with_chinese_headers_imports(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given staff and distributors, and a store file saved by Excel on Chinese Windows
    _import(engine, tenant, "staff", write(tmp_path, "staff.csv", STAFF_CSV, "gbk"))
    _import(engine, tenant, "distributors", write(tmp_path, "d.csv", DISTRIBUTORS_CSV))
    stores = write(tmp_path, "stores.csv", STORES_CSV, "gbk")

    # when
    report = _import(engine, tenant, "stores", stores)

    # then
    assert report.encoding == "gb18030"
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (3, 3, 0, 0)
    with unit_of_work(engine) as session:
        store = session.get(Store, (tenant.id, "S0001"))
        assert store is not None
        assert store.name == "天河好邻居便利店"
        assert store.region_code == "440106"
        assert store.store_type is StoreType.CONVENIENCE
        assert store.annual_purchase_fen == 15_000_000
        assert store.scale_tier is ScaleTier.B
        assert (store.closeness, store.growth) == (4, Growth.POTENTIAL)
        assert (store.rep_id, store.distributor_id, store.phone) == ("R1", "G2", "13812345678")
        second = session.get(Store, (tenant.id, "S0002"))
        assert second is not None
        assert (second.annual_purchase_fen, second.scale_tier) == (35_000_050, ScaleTier.A)
        closed = session.get(Store, (tenant.id, "S0003"))
        assert closed is not None
        assert (closed.region_code, closed.status, closed.scale_tier) == (
            "441900",
            StoreStatus.CLOSED,
            ScaleTier.D,
        )
        staff = session.get(Staff, (tenant.id, "R2"))
        assert staff is not None
        assert (staff.role, staff.manager_id, staff.phone, staff.region_code) == (
            StaffRole.REP,
            "S1",
            "13800000005",
            "440104",
        )


def test_bad_rows_are_reported_by_row_and_column_and_nothing_is_written(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given
    _import(engine, tenant, "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    bad = write(
        tmp_path,
        "stores.csv",
        "store_id,name,province,city,district,store_type,rep_id,closeness,phone\n"
        "S1,好店,广东,广州,天河,便利店,R1,3,\n"
        "S2,坏店,广东,广州,海淀,便利店,R1,3,\n"
        "S3,坏店2,广东,广州,天河,便利店,S1,9,12345\n"
        "S1,重复,广东,广州,天河,便利店,R9,3,\n",
    )
    rejects = tmp_path / "rejects.csv"

    # when
    with pytest.raises(ImportRejected) as caught:
        _import(engine, tenant, "stores", bad, rejects_path=rejects)

    # then
    errors = [(error.row, error.column, error.reason) for error in caught.value.report.errors]
    assert errors == [
        (3, "district(区/区县)", "广东省广州市没有区县“海淀”"),
        (4, "closeness(亲密度)", "9 超出范围 1–5"),
        (4, "phone(电话)", "不是有效的电话号码：'12345'（手机 11 位，或座机如 020-12345678）"),
        (4, "rep_id(业务员编号)", "S1 的角色是主管，不是业务员"),
        (5, "store_id(门店编号)", "编号与第 2 行重复"),
        (5, "rep_id(业务员编号)", "业务员 R9 不存在：请先导入员工"),
    ]
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Store)) == 0
        assert session.scalar(select(func.count()).select_from(ImportRun)) == 1  # the staff file
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "row",
        "store_id",
        "name",
        "province",
        "city",
        "district",
        "store_type",
        "rep_id",
        "closeness",
        "phone",
        "errors",
    ]
    assert [row[0] for row in rows[1:]] == ["3", "4", "5"]
    assert (
        rows[3][-1]
        == "store_id(门店编号)：编号与第 2 行重复；rep_id(业务员编号)：业务员 R9 不存在：请先导入员工"
    )


def test_skip_invalid_imports_the_good_rows_and_writes_the_rejects(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    _import(engine, tenant, "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    mixed = write(
        tmp_path,
        "stores.csv",
        "store_id,name,province,city,district,store_type,rep_id\n"
        "S1,好店,广东,广州,天河,便利店,R1\n"
        "S2,坏店,广东,广州,天河,太空站,R1\n",
    )
    rejects = tmp_path / "rejects.csv"

    report = _import(engine, tenant, "stores", mixed, skip_invalid=True, rejects_path=rejects)

    assert (report.inserted, report.rejected_rows, report.committed) == (1, 1, True)
    assert report.rejects_path == rejects
    with rejects.open(encoding="utf-8-sig") as handle:
        assert len(handle.read().splitlines()) == 2
    with unit_of_work(engine) as session:
        assert session.scalars(select(Store.store_id)).all() == ["S1"]


def test_reimport_is_idempotent_and_a_changed_row_updates_only_its_columns(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given everything imported once
    _load_all(engine, tenant, tmp_path)
    with unit_of_work(engine) as session:
        before = {
            store.store_id: (store.name, store.updated_at, store.closeness)
            for store in session.scalars(select(Store))
        }

    # when the same file comes again
    again = _import(engine, tenant, "stores", tmp_path / "stores.csv")

    # then nothing changes
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    with unit_of_work(engine) as session:
        assert {
            store.store_id: (store.name, store.updated_at, store.closeness)
            for store in session.scalars(select(Store))
        } == before

    # when a file without the closeness column renames one store
    renamed = write(
        tmp_path,
        "rename.csv",
        "store_id,name,province,city,district,store_type,rep_id\n"
        "S0001,天河好邻居(新),广东,广州,天河,便利店,R1\n",
    )
    report = _import(engine, tenant, "stores", renamed)

    # then only that row and only the given columns change
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)
    with unit_of_work(engine) as session:
        store = session.get(Store, (tenant.id, "S0001"))
        assert store is not None
        assert (store.name, store.closeness, store.annual_purchase_fen) == (
            "天河好邻居(新)",
            4,
            15_000_000,
        )
        assert store.updated_at > before["S0001"][1]
        assert session.get(Store, (tenant.id, "S0002")).updated_at == before["S0002"][1]  # type: ignore[union-attr]


def test_distributors_and_consumers_import(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    _load_all(engine, tenant, tmp_path)

    with unit_of_work(engine) as session:
        distributors = {
            row.distributor_id: (row.tier, row.parent_id, row.region_code)
            for row in session.scalars(select(Distributor))
        }
        consumers = {
            row.consumer_id: (row.role.value, row.kol_kind, row.region_code)
            for row in session.scalars(select(Consumer))
        }

    assert distributors == {
        "G1": (1, None, "440100"),
        "G2": (2, "G1", "440106"),
        "G3": (3, "G2", "440104"),
    }
    assert consumers == {
        "C1": ("kol", "宝妈群主", "440106"),
        "C2": ("seed", None, "440104"),
        "C3": ("fan", None, "330100"),
    }


def test_tags_column_sets_each_contacts_tags_exactly(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    from qunyun.channel.models import ContactKind
    from qunyun.channel.queries import contact_tags

    _import(engine, tenant, "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    header = "store_id,name,province,city,district,store_type,rep_id,tags\n"
    first = write(
        tmp_path,
        "a.csv",
        header + "S1,店,广东,广州,天河,便利店,R1,社区店;高潜力\nS2,店2,广东,广州,天河,超市,R1,\n",
    )
    second = write(
        tmp_path,
        "b.csv",
        header
        + "S1,店,广东,广州,天河,便利店,R1,高潜力，学校周边\nS2,店2,广东,广州,天河,超市,R1,\n",
    )

    _import(engine, tenant, "stores", first)
    report = _import(engine, tenant, "stores", second)
    again = _import(engine, tenant, "stores", second)

    assert (report.updated, report.unchanged) == (1, 1)
    assert (again.updated, again.unchanged) == (0, 2)
    with unit_of_work(engine) as session:
        assert contact_tags(session, tenant, ContactKind.STORE, "S1") == [
            "学校周边",
            "高潜力",
        ]
        assert contact_tags(session, tenant, ContactKind.STORE, "S2") == []


def test_staff_left_at_is_stored_like_any_timestamp_and_reimports_unchanged(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    staff = write(
        tmp_path,
        "s.csv",
        "staff_id,name,role,manager_id,left_at\nD1,王总,总监,,\nM1,李经理,经理,D1,2025-01-02\n",
    )

    _import(engine, tenant, "staff", staff)
    again = _import(engine, tenant, "staff", staff)

    midnight_in_shanghai = datetime(2025, 1, 1, 16, 0, tzinfo=UTC)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    with unit_of_work(engine) as session:
        # an equality test in SQL only matches when the stored format is the ORM's own
        assert session.scalars(
            select(Staff.staff_id).where(Staff.left_at == midnight_in_shanghai)
        ).all() == ["M1"]


def test_nothing_crosses_tenants(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given brand A with its staff and stores, and brand B with nothing yet
    from qunyun.org.actions import do_create_tenant

    _load_all(engine, tenant, tmp_path)
    with unit_of_work(engine) as session:
        other = do_create_tenant(session, "beta", "另一个品牌")

    # when brand B imports a store served by brand A's rep
    store = write(
        tmp_path,
        "b.csv",
        "store_id,name,province,city,district,store_type,rep_id\nS0001,B的店,广东,广州,天河,超市,R1\n",
    )
    with pytest.raises(ImportRejected) as caught:
        _import(engine, other, "stores", store)

    # then A's rep does not exist for B, and the same store id stays A's alone
    assert [error.reason for error in caught.value.report.errors] == [
        "业务员 R1 不存在：请先导入员工"
    ]
    with unit_of_work(engine) as session:
        names = session.execute(
            select(Store.tenant_id, Store.name).where(Store.store_id == "S0001")
        ).all()
    assert [tuple(row) for row in names] == [(tenant.id, "天河好邻居便利店")]


def test_the_database_refuses_a_reference_to_another_tenants_rep(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    from sqlalchemy.exc import IntegrityError

    from qunyun.org.actions import do_create_tenant

    _import(engine, tenant, "staff", write(tmp_path, "staff.csv", STAFF_CSV))
    with unit_of_work(engine) as session:
        other = do_create_tenant(session, "beta", "另一个品牌")

    with pytest.raises(IntegrityError), unit_of_work(engine) as session:
        session.add(
            Store(
                tenant_id=other.id,
                store_id="S1",
                name="越界的店",
                region_code="440106",
                store_type=StoreType.CONVENIENCE,
                rep_id="R1",
            )
        )
