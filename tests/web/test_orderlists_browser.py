"""接龙 in a real browser on a phone: open today's list, cut off, print the pick list.

Debian's Chromium through Playwright, as the console's other browser tests; screenshots go to
``test-artifacts/hq-phone-orderlists-*.png``; any error on the browser console fails the test.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine

from . import test_browser
from .activation_helpers import stores_of_group
from .conftest import store_groups_of
from .test_browser import _session
from .test_console_orderlists import _list_with_lines

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

browser = test_browser.browser
server = test_browser.server


def test_hq_opens_a_list_cuts_off_and_prints_the_pick_list_on_a_phone(
    browser: Browser, server: str, engine: Engine
) -> None:
    # given HQ on a phone, R0002's store group, and a list of three days ago with four lines
    group = store_groups_of(engine, "R0002")[0]
    partner = stores_of_group(engine, group)[0]
    _list_with_lines(engine, store_groups_of(engine, "R0003")[0])
    session = _session(browser, server, "phone", "hq")
    page = session.page
    session.open(f"/groups/{group}")
    page.click("#to-order-lists")
    page.wait_for_selector("#new-order-list")
    session.phone_shot("orderlists-lists")

    # when HQ opens today's list with two items
    page.select_option("#list-partner-kind", "store")
    page.fill("#list-partner", partner)
    page.fill("#list-items", "EGG30,土鸡蛋 30 枚,35.00,WT1\nMILK,鲜牛奶 1L,12.00,WT1")
    page.click("#open-list")
    page.wait_for_url(f"{server}/order-lists/*")
    assert page.inner_text("#list-status") == "接龙中"
    assert page.locator("#list-items tbody tr").count() == 2
    session.phone_shot("orderlists-list")

    # and cuts off, and opens the pick list
    page.click("#to-cutoffs")
    page.wait_for_selector("#make-cutoff")
    page.click("#make-cutoff")
    page.wait_for_selector("#activation-message")
    assert page.inner_text("#activation-message").startswith("截单完成 #")
    session.phone_shot("orderlists-cutoffs")
    page.click("#cutoffs tbody tr a[id^=pick-list-]")
    page.wait_for_selector("#print")
    session.phone_shot("orderlists-pick-list")

    # then the pick list has a section per supplier; printed, the console around it is gone
    assert page.locator("section.printable").count() == 2
    assert page.is_visible("header.top")
    assert page.is_visible("#print")
    page.emulate_media(media="print")
    assert not page.is_visible("header.top")
    assert not page.is_visible("#print")
    assert not page.is_visible("#back-to-cutoffs")
    assert (
        page.evaluate("getComputedStyle(document.querySelector('section.printable')).breakAfter")
        == "page"
    )
    assert session.errors == []
