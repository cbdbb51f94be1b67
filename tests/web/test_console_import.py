"""The console's import page: validation report first, nothing written until confirmed."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from qunyun.core.db import unit_of_work
from qunyun.org.models import Staff

from .conftest import console_login, csrf_of

GOOD = "员工编号,姓名,角色,上级编号\nR9001,新业务员甲,rep,S001\nR9002,新业务员乙,业务员,S001\n"
BAD = "staff_id,name,role,manager_id\nR9001,甲,rep,S001\nR9002,乙,chief,S001\nR9003,丙,rep,NOPE\n"


def _staff(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(Staff)) or 0


def _upload(client: TestClient, text: str, name: str = "staff.csv", entity: str = "staff") -> str:
    response = client.post(
        "/import",
        data={"csrf_token": csrf_of(client, "/import"), "entity": entity},
        files={"file": (name, text.encode("utf-8"), "text/csv")},
    )
    assert response.status_code == 200, response.text
    return response.text


def _value(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found is not None, element_id
    return found.group(1)


def test_a_valid_file_is_previewed_then_imported_on_confirm(
    client: TestClient, engine: Engine
) -> None:
    # given HQ and the staff before
    console_login(client, "hq")
    before = _staff(engine)

    # when HQ uploads a valid file
    preview = _upload(client, GOOD)

    # then the report counts two new people and nothing is written yet
    assert (_value(preview, "import-rows"), _value(preview, "import-inserted")) == ("2", "2")
    assert 'id="confirm-import"' in preview
    assert _staff(engine) == before

    # when HQ confirms
    done = client.post("/import/confirm", data={"csrf_token": csrf_of(client, "/import")})

    # then both are written, and confirming again has nothing to import
    assert "导入完成" in done.text
    assert _value(done.text, "import-inserted") == "2"
    assert _staff(engine) == before + 2
    again = client.post("/import/confirm", data={"csrf_token": csrf_of(client, "/import")})
    assert _value(again.text, "import-error") == "没有待导入的文件，请先上传并校验"
    assert _staff(engine) == before + 2


def test_a_file_with_errors_lists_row_column_and_reason_and_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    console_login(client, "hq")
    before = _staff(engine)

    report = _upload(client, BAD)

    assert (_value(report, "import-rows"), _value(report, "import-rejected")) == ("3", "2")
    rows = re.findall(
        r'<tr><td class="num">(\d+)</td><td>([^<]+)</td><td>([^<]*)</td><td>([^<]+)</td></tr>',
        report,
    )
    assert [(row, column, value) for row, column, value, _ in rows] == [
        ("3", "role(角色)", "chief"),
        ("4", "manager_id(上级编号)", "NOPE"),
    ]
    assert 'id="confirm-import"' not in report
    assert _staff(engine) == before
    refused = client.post("/import/confirm", data={"csrf_token": csrf_of(client, "/import")})
    assert _value(refused.text, "import-error") == "没有待导入的文件，请先上传并校验"


def test_unreadable_and_missing_files_are_explained(client: TestClient) -> None:
    console_login(client, "hq")

    wrong_type = _upload(client, "x", name="staff.pdf")
    no_column = _upload(client, "name\n甲\n")
    no_entity = _upload(client, GOOD, entity="orders")

    assert _value(wrong_type, "import-error") == "请上传 .csv 或 .xlsx 文件"
    assert "staff_id" in _value(no_column, "import-error")
    assert _value(no_entity, "import-error") == "请选择导入类型"


def test_only_hq_imports(client: TestClient) -> None:
    console_login(client, "manager")

    page = client.get("/import")
    upload = client.post(
        "/import",
        data={"csrf_token": csrf_of(client), "entity": "staff"},
        files={"file": ("staff.csv", GOOD.encode(), "text/csv")},
    )

    assert (page.status_code, upload.status_code) == (403, 403)
    assert "只有总部管理员可以导入主数据" in page.text


def test_a_file_letting_a_rep_leave_lists_his_stores_awaiting_handover(
    client: TestClient, engine: Engine
) -> None:
    # given HQ and a rep in post who serves stores
    from qunyun.channel.models import Store

    console_login(client, "hq")
    with unit_of_work(engine) as session:
        rep_id, stores = session.execute(
            select(Store.rep_id, func.count())
            .join(Staff, (Staff.tenant_id == Store.tenant_id) & (Staff.staff_id == Store.rep_id))
            .where(Staff.left_at.is_(None))
            .group_by(Store.rep_id)
            .order_by(Store.rep_id)
            .limit(1)
        ).one()
        rep = session.scalars(select(Staff).where(Staff.staff_id == rep_id)).one()
        name, manager = rep.name, rep.manager_id

    # when HQ checks a staff file saying that he left on 2026-11-20
    preview = _upload(
        client, f"staff_id,name,role,manager_id,left_at\n{rep_id},{name},rep,{manager},2026-11-20\n"
    )

    # then the report lists him with his stores, waiting for the handover
    assert _value(preview, "import-updated") == "1"
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td>([^<]+)</td><td class=\"num\">(\d+)</td>"
        r"<td class=\"num\">(\d+)</td></tr>",
        preview.split('id="import-awaiting-handover"', 1)[1],
    )
    assert [row for row in rows if row[0] == f"{rep_id} {name}"] == [
        (f"{rep_id} {name}", "2026-11-20", str(stores), "0")
    ]
