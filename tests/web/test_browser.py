"""The console in a real browser (Debian's Chromium through Playwright), phone and desktop.

Screenshots go to ``test-artifacts/`` (kept by CI as artifacts, ignored by git). Any error on
a page's console fails the test. Without ``/usr/bin/chromium`` these tests are skipped locally
and fail under CI, like the PostgreSQL half of the suite.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from sqlalchemy import Engine, update

from qunyun.channel.models import Store, StoreStatus
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.demo.build import DEMO_PASSWORD

from .conftest import store_groups_of

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1366, "height": 900}},
}

# one backend is enough for the browser: the routes under test are the same on both
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Return a headless Chromium of the system (never a downloaded one)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    """Serve the app on a free loopback port in a thread; return its base URL."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


FITS_THE_PHONE = "document.documentElement.scrollWidth <= window.innerWidth"


class Session:
    """A logged-in browser tab that records console errors and takes screenshots."""

    def __init__(self, page: Page, base: str, name: str) -> None:
        self.page, self.base, self.name = page, base, name
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{self.page.url}: {message.text}")

    def open(self, path: str) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None
        assert response.status == 200, (path, response.status)

    def shot(self, label: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{label}.png"), full_page=True)

    def phone_shot(self, label: str) -> None:
        """Take a screenshot after checking that nothing is wider than the phone."""
        assert self.page.evaluate(FITS_THE_PHONE), label
        self.shot(label)

    def login(self, username: str) -> None:
        self.open("/login")
        self.page.fill("input[name=tenant]", "demo")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", DEMO_PASSWORD)
        self.shot("login")
        self.page.click("form[action='/login'] button")
        self.page.wait_for_url(self.base + "/")


def _session(browser: Browser, server: str, viewport: str, username: str) -> Session:
    context = browser.new_context(locale="zh-CN", **VIEWPORTS[viewport])  # type: ignore[arg-type]
    session = Session(context.new_page(), server, f"{username}-{viewport}")
    session.login(username)
    return session


def _walk_overview_and_matrix(session: Session, first_group: str) -> None:
    page = session.page
    page.wait_for_selector(".chart canvas")
    session.shot("overview")
    page.click("nav a[href='/matrix']")
    link = f"a[href='/groups/{first_group}']"
    if not page.is_visible(link):  # several regions: open Guangdong, its groups load then
        page.click("#region-440000 summary")
    page.wait_for_selector(link)
    session.shot("matrix")
    page.click(f"a[href='/groups/{first_group}']")
    page.wait_for_selector("#member-count")
    assert page.inner_text("#no-breaches") == "符合全部规则"
    session.shot("group")
    page.click("a.lang")
    page.wait_for_selector("text=Members")
    session.shot("group-en")
    page.click("a.lang")
    page.wait_for_selector("text=成员")


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_rep_walks_his_pages(browser: Browser, server: str, engine: Engine, viewport: str) -> None:
    own = store_groups_of(engine, "R0001")
    session = _session(browser, server, viewport, "rep")

    _walk_overview_and_matrix(session, own[0])
    session.open("/matrix")
    links = session.page.eval_on_selector_all(
        "a.group-link", "links => links.map(link => link.getAttribute('href'))"
    )
    nav = session.page.inner_text("nav")

    assert links == [f"/groups/{group}" for group in own]
    assert ("计划" in nav, "交接" in nav) == (False, False)
    assert session.errors == []


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_hq_applies_a_plan_and_runs_a_handover(
    browser: Browser, server: str, engine: Engine, viewport: str
) -> None:
    # given a store that closed after the matrix was applied
    with unit_of_work(engine) as db:
        db.execute(
            update(Store)
            .where(Store.store_id == "ST0000003")
            .values(status=StoreStatus.CLOSED, updated_at=utcnow())
        )
    session = _session(browser, server, viewport, "hq")
    page = session.page
    own = store_groups_of(engine, "R0001")

    _walk_overview_and_matrix(session, own[0])
    page.click("nav a[href='/plan']")
    page.click("#compute-plan")
    page.wait_for_selector("#plan-message")
    assert page.inner_text("#plan-message") == "计划已计算"
    assert "1: ST0000003" in page.inner_text("#plan-diff .change-leave")
    session.shot("plan-computed")
    page.click("#apply-plan")
    page.wait_for_selector("#no-pending")
    assert page.inner_text("#plan-message") == "计划已应用"
    session.shot("plan-applied")
    page.click("nav a[href='/handover']")
    page.select_option("#from-id", "R0001")
    page.select_option("#to-id", "R0002")
    page.click("#run-handover")
    page.wait_for_selector("#handover-report")
    session.shot("handover")

    assert page.inner_text("#handover-report h2") == "交接完成: R0001 → R0002"
    assert store_groups_of(engine, "R0001") == []
    session.open("/api/docs")
    page.wait_for_selector("[data-path='/api/v1/groups/{group_id}']")
    session.shot("api-docs")
    assert session.errors == []
