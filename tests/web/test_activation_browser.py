"""Operators' activation pages in a real browser on a phone: set a rule, send, open a sale.

Debian's Chromium through Playwright (never a downloaded browser), as the console's other
browser tests; screenshots go to ``test-artifacts/hq-phone-activation-*.png``; any error on
the browser console fails the test.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine, select

from qunyun.activation.models import FlashSale, RedPacket, RedPacketRule
from qunyun.core.db import unit_of_work

from . import test_browser
from .conftest import store_groups_of
from .test_browser import Session, _session

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

browser = test_browser.browser
server = test_browser.server

FITS_THE_PHONE = "document.documentElement.scrollWidth <= window.innerWidth"


def _shot(session: Session, label: str) -> None:
    assert session.page.evaluate(FITS_THE_PHONE), label  # nothing wider than the phone
    session.shot(f"activation-{label}")


def test_hq_sets_a_rule_sends_a_packet_and_opens_a_flash_sale_on_a_phone(
    browser: Browser, server: str, engine: Engine
) -> None:
    # given HQ on a phone, on the page of R0002's store group (no packets yet)
    group = store_groups_of(engine, "R0002")[0]
    session = _session(browser, server, "phone", "hq")
    page = session.page
    session.open(f"/groups/{group}")
    page.click("#to-red-packets")
    page.wait_for_selector("#rule")
    _shot(session, "red-packets")

    # when HQ sets the group's rule: ¥50 a month, all day
    page.click("#rule-editor summary")
    page.fill("#rule-budget-input", "50")
    page.fill("#rule-window-start", "00:00")
    page.fill("#rule-window-end", "00:00")
    page.click("#save-rule")
    page.wait_for_selector("#activation-message")
    assert page.inner_text("#activation-message") == "规则已保存"
    assert page.inner_text("#rule-source") == "本群规则"
    assert page.inner_text("#rule-window") == "00:00–00:00 (全天)"
    _shot(session, "rule-saved")

    # and sends ¥8.88 in 4 shares
    page.fill("#send-total", "8.88")
    page.fill("#send-count", "4")
    page.click("#send-packet")
    page.wait_for_selector("#packets tr[data-packet]")
    with unit_of_work(engine) as db:
        packet = db.scalars(select(RedPacket).where(RedPacket.group_id == group)).one()
        assert (packet.total_fen, packet.count, packet.sender_id) == (888, 4, "hq")
    assert page.inner_text("#activation-message") == f"红包已发出 #{packet.id}"
    assert page.inner_text("#budget-spent") == "¥8.88"
    assert page.inner_text("#budget-left") == "¥41.12"
    _shot(session, "packet-sent")

    # and opens a flash sale from now for an hour
    page.click("#to-flash-sales")
    page.wait_for_selector("#new-sale")
    page.fill("#sale-sku", "SKU-WATER-24")
    page.fill("#sale-title", "清泉矿泉水 24 瓶")
    page.fill("#sale-price", "29.9")
    page.fill("#sale-stock", "50")
    page.fill("#sale-limit", "2")
    _shot(session, "new-sale")
    page.click("#create-sale")
    page.wait_for_url(f"{server}/flash-sales/*")
    page.wait_for_selector("#sale-figures")
    _shot(session, "sale")

    # then the sale page shows it live with its stock and no orders yet
    with unit_of_work(engine) as db:
        sale = db.scalars(select(FlashSale).where(FlashSale.group_id == group)).one()
        assert (sale.price_fen, sale.stock, sale.per_member_limit) == (2990, 50, 2)
    assert page.url == f"{server}/flash-sales/{sale.id}"
    assert (page.inner_text("#sale-stock"), page.inner_text("#sale-sold")) == ("50", "0")
    assert page.inner_text("#sale-status") == "进行中"
    assert page.inner_text("#sale-price") == "¥29.90"
    assert page.is_visible("#no-orders")
    assert session.errors == []


def test_hq_sets_the_tenant_default_rule_from_a_group_page_on_a_phone(
    browser: Browser, server: str, engine: Engine
) -> None:
    # given HQ on a phone, on the red-packet page of R0002's store group (no rule of its own)
    group = store_groups_of(engine, "R0002")[0]
    session = _session(browser, server, "phone", "hq")
    page = session.page
    session.open(f"/groups/{group}/red-packets")
    assert page.inner_text("#rule-budget") == "¥1,000.00"

    # when HQ follows the link to the tenant's rules and sets a ¥300 default, 09:00–21:00
    page.click("#to-default-rule")
    page.wait_for_selector("#group-rules")
    assert page.inner_text("#rule-source") == "内置默认"
    _shot(session, "rules")
    page.click("#rule-editor summary")
    page.fill("#rule-budget-input", "300")
    page.fill("#rule-window-start", "09:00")
    page.fill("#rule-window-end", "21:00")
    page.click("#save-rule")
    page.wait_for_selector("#activation-message")
    _shot(session, "default-rule-saved")

    # then the default is stored and the group, without a rule of its own, follows it
    assert page.inner_text("#activation-message") == "规则已保存"
    assert page.inner_text("#rule-source") == "租户默认"
    with unit_of_work(engine) as db:
        rule = db.scalars(select(RedPacketRule)).one()
        assert (rule.scope, rule.monthly_budget_fen, rule.window_start, rule.window_end) == (
            "*", 30000, "09:00", "21:00",
        )  # fmt: skip
    session.open(f"/groups/{group}/red-packets")
    assert page.inner_text("#rule-budget") == "¥300.00"
    assert page.inner_text("#rule-window") == "09:00–21:00"
    assert session.errors == []
