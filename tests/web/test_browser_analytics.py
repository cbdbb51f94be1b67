"""Analytics and the import page in a real browser (phone and desktop), no console errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine, func, select

from qunyun.core.db import unit_of_work
from qunyun.events.actions import do_ingest_events
from qunyun.org.access import Actor, access_tenant
from qunyun.org.models import Staff

from .conftest import store_groups_of
from .test_browser import VIEWPORTS, _session, browser, server  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

STAFF_FILE = "员工编号,姓名,角色,上级编号\nR9001,新业务员甲,rep,S001\nR9002,新业务员乙,rep,S001\n"


def _feed(engine: Engine, group_id: str) -> None:
    """Store 8 days of talk by 3 customers in the group."""
    with unit_of_work(engine) as session:
        tenant = access_tenant(session, Actor.operator(), "demo")
    events = [
        {
            "event_id": f"m-{day}-{speaker}",
            "ts": f"2026-11-{20 - day:02d}T10:00:00+08:00",
            "kind": "message",
            "group_id": group_id,
            "member_kind": "store",
            "member_id": f"ST{speaker}",
        }
        for day in range(8)
        for speaker in range(3)
    ]
    assert do_ingest_events(tenant, events).accepted == 24


def _staff(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(Staff)) or 0


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_hq_reads_analytics_and_imports_a_file(
    browser: Browser,  # noqa: F811
    server: str,  # noqa: F811
    engine: Engine,
    viewport: str,
    tmp_path: Path,
) -> None:
    # given a group with customers talking
    lively = store_groups_of(engine, "R0001")[0]
    _feed(engine, lively)
    session = _session(browser, server, viewport, "hq")
    page = session.page

    # the overview shows the health chart, the trend and the silent leaders
    page.wait_for_selector("#health .chart canvas")
    page.wait_for_selector("#trend .chart canvas")
    assert page.inner_text("[data-health='active']") == "1"
    assert page.locator("#silence tr[data-staff]").count() > 0
    session.shot("overview-analytics")

    # the group page shows its health and activity
    session.open(f"/groups/{lively}")
    page.wait_for_selector("#activity .chart canvas")
    assert page.inner_text("#health [data-health]") == "活跃"
    session.shot("group-analytics")

    # the import page: upload, read the report, confirm
    before = _staff(engine)
    upload = tmp_path / "staff.csv"
    upload.write_text(STAFF_FILE, encoding="utf-8")
    page.click("nav a[href='/import']")
    page.select_option("#import-entity", "staff")
    page.set_input_files("#import-file", str(upload))
    page.click("#check-import")
    page.wait_for_selector("#import-report")
    assert page.inner_text("#import-inserted") == "2"
    assert _staff(engine) == before
    session.shot("import-preview")
    page.click("#confirm-import")
    page.wait_for_selector("text=导入完成")
    session.shot("import-done")

    assert _staff(engine) == before + 2
    assert session.errors == []
