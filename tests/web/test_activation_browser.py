"""Operators' activation pages in a real browser on a phone: rules, packets, a relay, a draw.

Debian's Chromium through Playwright (never a downloaded browser), as the console's other
browser tests; screenshots go to ``test-artifacts/hq-phone-activation-*.png``; any error on
the browser console fails the test.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine, select

from qunyun.activation.draws import do_enter_draw, draw_winners
from qunyun.activation.models import FlashSale, LuckyDraw, RedPacket, RedPacketRule
from qunyun.activation.redpackets import do_grab_red_packet
from qunyun.channel.models import ContactKind
from qunyun.core.db import unit_of_work
from qunyun.org.models import Tenant

from . import test_browser
from .activation_helpers import allow_packets_all_day, stores_of_group
from .conftest import store_groups_of
from .test_browser import _session

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

browser = test_browser.browser
server = test_browser.server


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
    session.phone_shot("activation-red-packets")

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
    session.phone_shot("activation-rule-saved")

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
    session.phone_shot("activation-packet-sent")

    # and opens a flash sale from now for an hour
    page.click("#to-flash-sales")
    page.wait_for_selector("#new-sale")
    page.fill("#sale-sku", "SKU-WATER-24")
    page.fill("#sale-title", "清泉矿泉水 24 瓶")
    page.fill("#sale-price", "29.9")
    page.fill("#sale-stock", "50")
    page.fill("#sale-limit", "2")
    session.phone_shot("activation-new-sale")
    page.click("#create-sale")
    page.wait_for_url(f"{server}/flash-sales/*")
    page.wait_for_selector("#sale-figures")
    session.phone_shot("activation-sale")

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
    session.phone_shot("activation-rules")
    page.click("#rule-editor summary")
    page.fill("#rule-budget-input", "300")
    page.fill("#rule-window-start", "09:00")
    page.fill("#rule-window-end", "21:00")
    page.click("#save-rule")
    page.wait_for_selector("#activation-message")
    session.phone_shot("activation-default-rule-saved")

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


def test_a_rep_opens_a_draw_draws_it_and_sees_it_verify_on_a_phone(
    browser: Browser, server: str, engine: Engine
) -> None:
    # given the rep on a phone, on the draws page of his store group
    group = store_groups_of(engine, "R0001")[0]
    session = _session(browser, server, "phone", "rep")
    page = session.page
    session.open(f"/groups/{group}")
    page.click("#to-draws")
    page.wait_for_selector("#new-draw")
    session.phone_shot("activation-draws")

    # when he opens a draw of two prizes, three members enter and he draws it
    page.fill("#draw-title", "周年庆抽奖")
    page.fill("#draw-prizes", "茶礼盒\n优惠券")
    page.click("#open-draw")
    page.wait_for_url(f"{server}/draws/*")
    page.wait_for_selector("#proof")
    draw_id = int(page.url.rsplit("/", 1)[1])
    assert page.inner_text("#draw-status") == "报名中"
    assert page.inner_text("#verify-after-draw") == "开奖后公布种子，才能验证。"
    session.phone_shot("activation-draw-open")
    tickets = _enter_members(engine, draw_id, stores_of_group(engine, group)[:3])
    session.open(f"/draws/{draw_id}")
    assert page.inner_text("#draw-entries") == "3"
    page.click("#draw-now")
    page.wait_for_selector("#verified")
    session.phone_shot("activation-draw-drawn")

    # then the page shows the revealed seed, the tickets, the winners and that it verifies
    with unit_of_work(engine) as db:
        draw = db.get_one(LuckyDraw, draw_id)
        seed, seed_hash = draw.seed, draw.seed_hash
    assert page.inner_text("#activation-message") == f"已开奖 #{draw_id}"
    assert page.inner_text("#proof-seed") == seed
    assert page.inner_text("#proof-seed-hash") == seed_hash
    assert page.inner_text("#proof-tickets") == " ".join(sorted(tickets))
    winners = draw_winners(seed, tickets, 2)
    assert page.locator("#results tbody tr td:nth-child(2)").all_inner_texts() == winners
    assert page.inner_text("#verified").startswith("✓ 验证通过")
    assert session.errors == []


def _enter_members(engine: Engine, draw_id: int, members: list[str]) -> list[str]:
    with unit_of_work(engine) as db:
        tenant = db.scalars(select(Tenant).where(Tenant.slug == "demo")).one()
        return [do_enter_draw(db, tenant, draw_id, ContactKind.STORE, member) for member in members]


def test_hq_starts_a_relay_and_sends_the_next_round_for_the_best_luck_on_a_phone(
    browser: Browser, server: str, engine: Engine
) -> None:
    # given HQ on a phone, on the relays page of R0002's store group, all day
    group = store_groups_of(engine, "R0002")[0]
    allow_packets_all_day(engine, budget_fen=5000)
    session = _session(browser, server, "phone", "hq")
    page = session.page
    session.open(f"/groups/{group}/relays")
    assert page.inner_text("#budget-left") == "¥50.00"

    # when HQ starts 2 rounds of ¥5 in 2 shares and round 1 is grabbed
    page.fill("#relay-total", "5")
    page.fill("#relay-count", "2")
    page.fill("#relay-rounds", "2")
    session.phone_shot("activation-new-relay")
    page.click("#start-relay")
    page.wait_for_url(f"{server}/relays/*")
    page.wait_for_selector("#rounds")
    relay_id = int(page.url.rsplit("/", 1)[1])
    assert page.inner_text("#relay-asked") == "本轮还在抢"
    best = _grab_round(engine, relay_id, stores_of_group(engine, group)[:2])
    session.open(f"/relays/{relay_id}")
    session.phone_shot("activation-relay-asked")
    page.click("#send-next-round")
    page.wait_for_selector("#activation-message")
    session.phone_shot("activation-relay-round-2")

    # then round 2 is out as the best-luck grabber's, and both rounds are listed
    assert page.inner_text("#activation-message") == f"已发出下一轮 #{relay_id}"
    assert page.inner_text("#relay-rounds-sent") == "2/2"
    assert page.locator("#rounds tbody tr td:nth-child(3)").all_inner_texts() == ["hq", best]
    assert session.errors == []


def _grab_round(engine: Engine, relay_id: int, members: list[str]) -> str:
    """Let the members grab the relay's open round; return its best-luck grabber."""
    with unit_of_work(engine) as db:
        tenant = db.scalars(select(Tenant).where(Tenant.slug == "demo")).one()
        packet = db.scalars(select(RedPacket.id).where(RedPacket.relay_id == relay_id)).one()
        grabs = [
            do_grab_red_packet(db, tenant, packet, ContactKind.STORE, member) for member in members
        ]
        return next(grab.member_id for grab in grabs if grab.is_best_luck)
