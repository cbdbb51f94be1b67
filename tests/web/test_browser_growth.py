"""The growth pages in a real browser (phone and desktop): charts drawn, no console errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from ..conftest import Cli
from .growth_events import OWN, import_growth_events
from .test_browser import VIEWPORTS, Session, _session, browser, server  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CHARTS = {
    "vip": "#vip-chart",
    "funnel": "#funnel-chart",
    "cohorts": "#cohort-chart",
    "reach": "#reach-chart",
    "referrals": "#referral-chart",
}


def _walk_tabs(session: Session) -> None:
    """Open the growth pages from the navigation and their tabs; wait for every chart."""
    page = session.page
    page.click("#nav-growth")
    for tab, chart in CHARTS.items():
        if tab != "vip":
            page.click(f"#tab-{tab}")
        page.wait_for_url(f"{session.base}/analytics/{tab}")
        page.wait_for_selector(f"{chart} .chart canvas")
        assert page.get_attribute(f"#tab-{tab}", "aria-current") == "page"
        assert page.is_hidden("#growth-progress")  # shown only while the next page loads
        session.shot(f"growth-{tab}")


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_hq_reads_the_growth_pages_and_the_dead_groups(
    browser: Browser,  # noqa: F811
    server: str,  # noqa: F811
    demo: Cli,
    tmp_path: Path,
    viewport: str,
) -> None:
    # given the known week of events
    import_growth_events(demo, tmp_path)
    session = _session(browser, server, viewport, "hq")
    page = session.page

    # when HQ walks the growth pages
    _walk_tabs(session)

    # then the figures are there, in Chinese and in English
    assert page.inner_text("#max-depth") == "2"
    assert page.locator("#leaderboard tr[data-member]").count() == 4
    page.click("a.lang")
    page.wait_for_selector("text=Referral leaderboard")
    session.shot("growth-referrals-en")
    page.click("a.lang")
    page.wait_for_selector("text=推荐排行榜")
    # and a computed plan lists the dead groups with links to them
    page.click("nav a[href='/plan']")
    page.click("#compute-plan")
    page.wait_for_selector("#dead-groups")
    assert page.inner_text("#dead-count") == "30"
    session.shot("plan-dead-groups")
    page.click("#dead-groups a[href='/groups/DG000001']")
    page.wait_for_selector("#member-count")
    assert session.errors == []


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_rep_reads_his_growth_pages(
    browser: Browser,  # noqa: F811
    server: str,  # noqa: F811
    demo: Cli,
    tmp_path: Path,
    viewport: str,
) -> None:
    import_growth_events(demo, tmp_path)
    session = _session(browser, server, viewport, "rep")
    page = session.page

    _walk_tabs(session)
    page.click("#tab-vip")
    page.wait_for_selector("#vip-chart .chart canvas")

    assert page.locator("tr[data-store]").count() == 1
    assert page.get_attribute("tr[data-store]", "data-store") == OWN
    assert page.inner_text("#vip-to-promote") == "1"
    assert session.errors == []
