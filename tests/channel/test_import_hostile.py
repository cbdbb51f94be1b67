"""Hostile and malformed import files: each fails with a clear message and writes nothing."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, func, select

from qunyun.channel.imports import ImportRejected, ImportReport, do_import
from qunyun.channel.models import Growth, ImportRun, Store, StoreType
from qunyun.core.db import unit_of_work
from qunyun.core.errors import InvalidInput
from qunyun.core.tabular import spreadsheet_safe, write_csv
from qunyun.org.models import Staff, StaffRole, Tenant

from ..conftest import Cli
from .sample import STAFF_CSV, write

STORE_HEADER = "store_id,name,province,city,district,store_type,rep_id\n"
FORMULA = "=cmd|' /C calc'!A0"
TEN_MB = 10 * 1024 * 1024


def _import(
    engine: Engine, tenant: Tenant, entity: str, path: Path, **options: object
) -> ImportReport:
    with unit_of_work(engine) as session:
        return do_import(session, tenant, entity, path, **options)  # type: ignore[arg-type]


def _count(engine: Engine, model: type) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _invalid(engine: Engine, tenant: Tenant, entity: str, path: Path) -> str:
    with pytest.raises(InvalidInput) as caught:
        _import(engine, tenant, entity, path)
    return caught.value.message


def _with_staff(engine: Engine, tenant: Tenant, directory: Path) -> None:
    _import(engine, tenant, "staff", write(directory, "staff.csv", STAFF_CSV))


def _store_names(engine: Engine) -> dict[str, str]:
    with unit_of_work(engine) as session:
        return dict(session.execute(select(Store.store_id, Store.name)).all())


# --- files that are not tables -------------------------------------------------------------


def test_empty_file_is_refused_by_name(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given a zero-byte file
    empty = tmp_path / "空文件.csv"
    empty.write_bytes(b"")

    # when / then
    assert _invalid(engine, tenant, "stores", empty) == "文件为空：空文件.csv"
    assert (_count(engine, Store), _count(engine, ImportRun)) == (0, 0)


def test_empty_file_through_the_cli_prints_the_message_and_exits_1(
    engine: Engine, tenant: Tenant, cli: Cli, tmp_path: Path
) -> None:
    empty = tmp_path / "stores.csv"
    empty.write_bytes(b"")

    result = cli("import", "stores", empty, "--tenant", "acme", expect=1)

    assert result.output.strip() == "错误：文件为空：stores.csv"
    assert _count(engine, Store) == 0


def test_file_of_blank_lines_only_is_empty(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    blank = write(tmp_path, "stores.csv", "\n\n\n")

    assert _invalid(engine, tenant, "stores", blank) == "stores.csv：第 1 行应为表头，但它是空的"
    assert _count(engine, Store) == 0


def test_header_only_file_imports_zero_rows(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given a file with the header and no data
    header_only = write(tmp_path, "stores.csv", STORE_HEADER)

    # when
    report = _import(engine, tenant, "stores", header_only)

    # then it is a successful, empty import that is still recorded
    counts = (report.rows, report.inserted, report.updated, report.unchanged, report.rejected_rows)
    assert counts == (0, 0, 0, 0, 0)
    assert (report.errors, report.ignored_headers, report.committed) == ([], [], True)
    assert _count(engine, Store) == 0
    with unit_of_work(engine) as session:
        runs = session.execute(select(ImportRun.entity, ImportRun.file_name, ImportRun.rows)).all()
    assert [tuple(run) for run in runs] == [("stores", "stores.csv", 0)]


def test_missing_required_columns_are_all_named(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given a store file with only three of the seven required columns
    partial = write(tmp_path, "stores.csv", "store_id,name,city\nS1,好店,广州\n")

    # when / then
    assert _invalid(engine, tenant, "stores", partial) == (
        "stores.csv：缺少必填列 province(省)、district(区/区县)、store_type(门店类型)、"
        "rep_id(业务员编号)；表头为：store_id、name、city"
    )
    assert (_count(engine, Store), _count(engine, ImportRun)) == (0, 0)


def test_missing_required_column_in_chinese_header(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    partial = write(tmp_path, "员工.csv", "员工编号,姓名\nR1,赵业务\n")

    assert (
        _invalid(engine, tenant, "staff", partial)
        == "员工.csv：缺少必填列 role(角色)；表头为：员工编号、姓名"
    )
    assert _count(engine, Staff) == 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_imports(
    engine: Engine, tenant: Tenant, tmp_path: Path, encoding: str
) -> None:
    # given staff saved as "Unicode text" (UTF-16 with a byte-order mark)
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    path = tmp_path / "staff.csv"
    path.write_bytes(bom + STAFF_CSV.encode(encoding))

    # when
    report = _import(engine, tenant, "staff", path)

    # then
    assert report.encoding == "utf-16"
    assert (report.rows, report.inserted, report.rejected_rows) == (6, 6, 0)
    with unit_of_work(engine) as session:
        staff = session.get(Staff, (tenant.id, "R2"))
        assert staff is not None
        assert (staff.name, staff.role, staff.manager_id) == ("钱业务", StaffRole.REP, "S1")
        assert staff.phone == "13800000005"


def test_utf16_without_bom_is_refused_as_binary(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "staff.csv"
    path.write_bytes(STAFF_CSV.encode("utf-16-le"))

    assert _invalid(engine, tenant, "staff", path) == (
        "这不是文本表格文件（含有二进制内容）：请上传 CSV 或 .xlsx"
    )
    assert _count(engine, Staff) == 0


def test_binary_file_with_nul_bytes_is_refused(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given a file that starts like a CSV but holds binary data
    path = tmp_path / "stores.csv"
    path.write_bytes(STORE_HEADER.encode() + bytes(range(256)) * 4)

    # when / then
    assert _invalid(engine, tenant, "stores", path) == (
        "这不是文本表格文件（含有二进制内容）：请上传 CSV 或 .xlsx"
    )
    assert (_count(engine, Store), _count(engine, ImportRun)) == (0, 0)


def test_undecodable_bytes_are_refused(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given bytes that are neither UTF-8 nor GB18030
    path = tmp_path / "stores.csv"
    path.write_bytes(STORE_HEADER.encode() + b"S1,\x80\x80\xff\xff,\n")

    assert _invalid(engine, tenant, "stores", path) == (
        "无法识别文件编码：支持 UTF-8、UTF-8 BOM、GBK/GB18030 和带 BOM 的 UTF-16"
    )
    assert _count(engine, Store) == 0


def _mixed_encoding_file(directory: Path) -> Path:
    """Return a UTF-8 store file longer than the 1 MB encoding sample whose row 40002 is GBK."""
    good = "".join(f"S{index:05d},店{index},广东,广州,天河,便利店,R1\n" for index in range(40_000))
    path = directory / "stores.csv"
    path.write_bytes(
        STORE_HEADER.encode()
        + good.encode()
        + "S99999,华润万家,广东,广州,越秀,超市,R1\n".encode("gbk")
    )
    assert path.stat().st_size > 1024 * 1024
    return path


def test_encoding_that_changes_after_the_sample_aborts_the_whole_import(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given 40,000 good rows and then one in another encoding
    _with_staff(engine, tenant, tmp_path)
    path = _mixed_encoding_file(tmp_path)

    # when
    message = _invalid(engine, tenant, "stores", path)

    # then the import stops with a message and none of the good rows are written
    assert re.fullmatch(
        r"stores\.csv 第 \d+ 行附近的字节不是 utf-8 编码：文件里混用了多种编码", message
    )
    assert (_count(engine, Store), _count(engine, ImportRun)) == (0, 1)


def test_encoding_change_names_the_row_with_the_bad_bytes(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    _with_staff(engine, tenant, tmp_path)
    path = _mixed_encoding_file(tmp_path)

    assert _invalid(engine, tenant, "stores", path) == (
        "stores.csv 第 40002 行附近的字节不是 utf-8 编码：文件里混用了多种编码"
    )


@pytest.mark.parametrize("name", ["stores.xls", "stores.csv"])
def test_legacy_xls_is_refused(engine: Engine, tenant: Tenant, tmp_path: Path, name: str) -> None:
    # given an OLE2 compound document (Excel 97-2003), named .xls or disguised as .csv
    path = tmp_path / name
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)

    assert _invalid(engine, tenant, "stores", path) == (
        "不支持旧版 Excel .xls 文件：请在 Excel 中另存为 .xlsx 或 CSV"
    )
    assert (_count(engine, Store), _count(engine, ImportRun)) == (0, 0)


def test_xlsx_disguised_as_csv_is_refused(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given a real workbook saved under a .csv name
    workbook = openpyxl.Workbook()
    workbook.active.append(STORE_HEADER.strip().split(","))  # type: ignore[union-attr]
    path = tmp_path / "stores.csv"
    workbook.save(path)

    assert _invalid(engine, tenant, "stores", path) == (
        "stores.csv 实际是 Excel (.xlsx) 文件：请把扩展名改为 .xlsx"
    )
    assert _count(engine, Store) == 0


def test_csv_disguised_as_xlsx_is_refused(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    path = write(tmp_path, "stores.xlsx", STORE_HEADER + "S1,好店,广东,广州,天河,便利店,R1\n")

    assert (
        _invalid(engine, tenant, "stores", path)
        == "无法读取 Excel 文件 stores.xlsx：File is not a zip file"
    )
    assert _count(engine, Store) == 0


def test_missing_file_and_directory_are_refused(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.csv"

    assert _invalid(engine, tenant, "stores", missing) == f"文件不存在：{missing}"
    assert _invalid(engine, tenant, "stores", tmp_path) == f"这是一个文件夹，不是文件：{tmp_path}"
    assert _count(engine, ImportRun) == 0


def test_unknown_entity_is_refused(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", STORE_HEADER)

    assert _invalid(engine, tenant, "groups", path) == (
        "不能导入 'groups'：可导入 staff, distributors, stores, consumers"
    )


# --- headers ---------------------------------------------------------------------------------


def test_unknown_columns_are_ignored_and_listed(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given a store file with two columns the import does not know
    _with_staff(engine, tenant, tmp_path)
    path = write(
        tmp_path,
        "stores.csv",
        "store_id,备注,name,province,city,district,store_type,rep_id, Unknown Col ,\n"
        "S1,老客户,好店,广东,广州,天河,便利店,R1,x,y\n",
    )

    # when
    report = _import(engine, tenant, "stores", path)

    # then
    assert report.ignored_headers == ["备注", "Unknown Col"]
    assert (report.rows, report.inserted, report.rejected_rows) == (1, 1, 0)
    assert _store_names(engine) == {"S1": "好店"}


def test_headers_match_with_marks_spaces_and_case(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    _with_staff(engine, tenant, tmp_path)
    path = write(
        tmp_path,
        "stores.csv",
        "\ufeff*门店编号, 门店 名称 ,＊省,市,区/区县,门店类型,REP_ID\n"
        "S1,好店,广东,广州,天河,便利店,R1\n",
    )

    report = _import(engine, tenant, "stores", path)

    assert (report.encoding, report.inserted, report.ignored_headers) == ("utf-8-sig", 1, [])
    assert _store_names(engine) == {"S1": "好店"}


def test_two_headers_for_one_column_are_refused(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given "store_id" and its alias "门店编号" both in the header
    _with_staff(engine, tenant, tmp_path)
    path = write(
        tmp_path,
        "stores.csv",
        "store_id,门店编号,name,province,city,district,store_type,rep_id\n"
        "S1,S2,好店,广东,广州,天河,便利店,R1\n",
    )

    # when / then
    assert (
        _invalid(engine, tenant, "stores", path)
        == "stores.csv：列 store_id(门店编号) 出现了两次（第 1 行）"
    )
    assert _count(engine, Store) == 0


# --- oversized cells -------------------------------------------------------------------------


def _huge_name_file(directory: Path) -> Path:
    path = directory / "stores.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(STORE_HEADER)
        handle.write("S1,好店,广东,广州,天河,便利店,R1\n")
        handle.write("S2," + "x" * TEN_MB + ",广东,广州,天河,便利店,R1\n")
        handle.write("S3,另一家,广东,广州,越秀,超市,R2\n")
    return path


def test_ten_megabyte_cell_rejects_its_row_and_nothing_is_written(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given a store whose name is 10 MB long
    _with_staff(engine, tenant, tmp_path)
    path = _huge_name_file(tmp_path)

    # when
    with pytest.raises(ImportRejected) as caught:
        _import(engine, tenant, "stores", path)

    # then
    report = caught.value.report
    assert [(error.row, error.column, error.value, error.reason) for error in report.errors] == [
        (3, "name(门店名称)", "x" * 40, "过长（10,485,760 个字符，上限 200）"),
    ]
    assert (report.rows, report.rejected_rows, report.committed) == (3, 1, False)
    assert report.errors[0].describe() == (
        f"第 3 行 · name(门店名称) = '{'x' * 40}'：过长（10,485,760 个字符，上限 200）"
    )
    assert str(caught.value) == "stores.csv：1 行有错误，未写入任何数据（共 3 行）"
    assert _count(engine, Store) == 0


def test_ten_megabyte_cell_with_skip_invalid_imports_the_other_rows(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    _with_staff(engine, tenant, tmp_path)
    path = _huge_name_file(tmp_path)
    rejects = tmp_path / "rejects.csv"

    report = _import(engine, tenant, "stores", path, skip_invalid=True, rejects_path=rejects)

    assert (report.rows, report.inserted, report.rejected_rows, report.committed) == (3, 2, 1, True)
    assert [error.reason for error in report.errors] == ["过长（10,485,760 个字符，上限 200）"]
    assert _store_names(engine) == {"S1": "好店", "S3": "另一家"}
    previous_limit = csv.field_size_limit(TEN_MB * 2)
    try:
        with rejects.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    finally:
        csv.field_size_limit(previous_limit)
    assert [(row[0], row[1], len(row[2]), row[-1]) for row in rows[1:]] == [
        ("3", "S2", TEN_MB, "name(门店名称)：过长（10,485,760 个字符，上限 200）"),
    ]


def test_id_longer_than_64_characters_is_rejected(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    _with_staff(engine, tenant, tmp_path)
    path = write(
        tmp_path, "stores.csv", STORE_HEADER + "S" * 65 + ",好店,广东,广州,天河,便利店,R1\n"
    )

    with pytest.raises(ImportRejected) as caught:
        _import(engine, tenant, "stores", path)

    assert [(error.row, error.column, error.reason) for error in caught.value.report.errors] == [
        (2, "store_id(门店编号)", "过长（65 个字符，上限 64）"),
    ]
    assert _count(engine, Store) == 0


def test_annual_purchase_too_large_for_the_database_is_a_row_error(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given a store whose annual purchase does not fit a 64-bit integer of fen
    _with_staff(engine, tenant, tmp_path)
    path = write(
        tmp_path,
        "stores.csv",
        "store_id,name,province,city,district,store_type,rep_id,annual_purchase_yuan\n"
        "S1,好店,广东,广州,天河,便利店,R1,99999999999999999999\n",
    )

    # when / then it is reported like any other bad cell, not as a database crash
    with pytest.raises(ImportRejected) as caught:
        _import(engine, tenant, "stores", path)
    assert [(error.row, error.column) for error in caught.value.report.errors] == [
        (2, "annual_purchase_yuan(年进货额)"),
    ]
    assert _count(engine, Store) == 0


# --- formulas (CSV injection) -------------------------------------------------------------


def test_formula_cell_is_stored_as_plain_text(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given a store name that a spreadsheet would run as a command
    _with_staff(engine, tenant, tmp_path)
    path = write(
        tmp_path,
        "stores.csv",
        "store_id,name,province,city,district,store_type,rep_id,address\n"
        f"S1,{FORMULA},广东,广州,天河,便利店,R1,@SUM(A1:A9)\n",
    )

    # when
    report = _import(engine, tenant, "stores", path)

    # then the text is kept exactly; nothing is evaluated or escaped in the database
    assert report.inserted == 1
    with unit_of_work(engine) as session:
        store = session.get(Store, (tenant.id, "S1"))
        assert store is not None
        assert (store.name, store.address) == (FORMULA, "@SUM(A1:A9)")


def test_formula_in_a_rejected_row_is_escaped_in_the_rejects_csv(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given a row with a formula name that is rejected for an unknown rep
    _with_staff(engine, tenant, tmp_path)
    path = tmp_path / "stores.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["store_id", "name", "province", "city", "district", "store_type", "rep_id", "address"]
        )
        writer.writerow(["S1", FORMULA, "广东", "广州", "天河", "便利店", "R9", "+1-2"])
    rejects = tmp_path / "rejects.csv"

    # when
    with pytest.raises(ImportRejected):
        _import(engine, tenant, "stores", path, rejects_path=rejects)

    # then every formula-like cell is neutralised with a leading apostrophe
    raw = rejects.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = "row,store_id,name,province,city,district,store_type,rep_id,address,errors"
    assert rows[0] == header.split(",")
    assert rows[1:] == [
        ["2", "S1", "'" + FORMULA, "广东", "广州", "天河", "便利店", "R9", "'+1-2",
         "rep_id(业务员编号)：业务员 R9 不存在：请先导入员工"],
    ]  # fmt: skip
    assert _count(engine, Store) == 0


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        (FORMULA, "'" + FORMULA),
        ("+8613800138000", "'+8613800138000"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("a=1", "a=1"),
        ("好店", "好店"),
        (" =1", " =1"),
        ("", ""),
        (None, ""),
        (12, "12"),
        (-12, "'-12"),
    ],
)
def test_spreadsheet_safe(value: object, shown: str) -> None:
    assert spreadsheet_safe(value) == shown


def test_write_csv_escapes_header_and_cells(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"

    count = write_csv(path, ["=h", "ok"], [["=1+1", "x"], ["@a", None]], for_excel=False)

    assert count == 2
    assert path.read_bytes() == b"'=h,ok\r\n'=1+1,x\r\n'@a,\r\n"


# --- xlsx ------------------------------------------------------------------------------------


def _workbook(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def test_xlsx_with_chinese_headers_and_numeric_cells_imports(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given staff and stores typed into Excel: ids, phones and ratings as numbers
    staff = _workbook(
        tmp_path / "员工.xlsx",
        [
            ["员工编号", "姓名", "角色", "上级编号", "电话"],
            [1, "王总监", "总监", None, 13800138000],
            [7, "赵业务", "业务员", 1, 13800138007.0],
        ],
    )
    stores = _workbook(
        tmp_path / "门店.xlsx",
        [
            ["门店编号", "门店名称", "省", "市", "区/区县", "门店类型", "业务员编号", "亲密度",
             "年进货额", "纬度", "经度", "电话"],
            [1001, "天河便利", "广东", "广州", "天河", "便利店", 7, 4.0,
             150000.5, 23.13, 113.26, 13800138000],
            [1002, "=1+1", "广东", "东莞", None, "超市", 7, 2, 300000, None, None, None],
        ],
    )  # fmt: skip

    # when
    staff_report = _import(engine, tenant, "staff", staff)
    store_report = _import(engine, tenant, "stores", stores)

    # then
    assert (staff_report.encoding, staff_report.inserted) == ("xlsx", 2)
    assert (store_report.encoding, store_report.rows, store_report.inserted) == ("xlsx", 2, 2)
    assert store_report.errors == []
    with unit_of_work(engine) as session:
        rep = session.get(Staff, (tenant.id, "7"))
        assert rep is not None
        assert (rep.name, rep.role, rep.manager_id) == ("赵业务", StaffRole.REP, "1")
        assert rep.phone == "13800138007"
        first = session.get(Store, (tenant.id, "1001"))
        assert first is not None
        assert (first.name, first.region_code, first.rep_id) == ("天河便利", "440106", "7")
        assert (first.store_type, first.closeness, first.growth) == (
            StoreType.CONVENIENCE, 4, Growth.STABLE
        )  # fmt: skip
        assert (first.annual_purchase_fen, first.phone) == (15_000_050, "13800138000")
        assert (first.lat, first.lon) == (23.13, 113.26)
        second = session.get(Store, (tenant.id, "1002"))
        assert second is not None
        assert (second.name, second.region_code) == ("=1+1", "441900")
        assert (second.closeness, second.annual_purchase_fen) == (2, 30_000_000)


def test_xlsx_header_may_follow_blank_rows(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    # given a sheet whose header is on row 3; rows are numbered as Excel shows them
    path = _workbook(
        tmp_path / "staff.xlsx",
        [
            [None, None],
            [None, None],
            ["员工编号", "姓名", "角色"],
            ["R1", "赵业务", "业务员"],
            [None, None, None],
            ["R2", "钱业务", "太空人"],
        ],
    )

    with pytest.raises(ImportRejected) as caught:
        _import(engine, tenant, "staff", path)

    assert [(error.row, error.column) for error in caught.value.report.errors] == [
        (6, "role(角色)")
    ]
    assert caught.value.report.rows == 2
    assert _count(engine, Staff) == 0


def test_empty_xlsx_is_refused(engine: Engine, tenant: Tenant, tmp_path: Path) -> None:
    path = _workbook(tmp_path / "stores.xlsx", [])

    assert _invalid(engine, tenant, "stores", path) == "文件为空：stores.xlsx"
    assert _count(engine, Store) == 0


# --- other hostile cells -------------------------------------------------------------------


def test_control_characters_in_cells_are_rejected(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    _with_staff(engine, tenant, tmp_path)
    path = tmp_path / "stores.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(STORE_HEADER.strip().split(","))
        writer.writerow(["S1", "好\x07店", "广东", "广州", "天河", "便利店", "R1"])
        writer.writerow(["S\t2", "好店", "广东", "广州", "天河", "便利店", "R1"])

    with pytest.raises(ImportRejected) as caught:
        _import(engine, tenant, "stores", path)

    assert [(error.row, error.column, error.reason) for error in caught.value.report.errors] == [
        (2, "name(门店名称)", "含有控制字符"),
        (3, "store_id(门店编号)", "编号含有控制字符"),
    ]
    assert _count(engine, Store) == 0


def test_row_numbers_match_the_spreadsheet_after_a_multiline_cell(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given a quoted address with a line break in row 2 and a bad rep in row 3
    _with_staff(engine, tenant, tmp_path)
    path = write(
        tmp_path,
        "stores.csv",
        "store_id,name,province,city,district,store_type,rep_id,address\n"
        'S1,好店,广东,广州,天河,便利店,R1,"天河路\n1号"\n'
        "S2,坏店,广东,广州,天河,便利店,R9,\n",
    )

    # when
    with pytest.raises(ImportRejected) as caught:
        _import(engine, tenant, "stores", path)

    # then the rows are the ones Excel shows (the header is row 1), and the line break in
    # the address is no error
    assert [(error.row, error.column) for error in caught.value.report.errors] == [
        (3, "rep_id(业务员编号)"),
    ]
