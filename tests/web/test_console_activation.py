"""Operators' activation pages through an HTTP client: rules, budget, packets, sales, deals."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from operator import attrgetter
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from qunyun.activation.models import FlashSale, GroupBuy, RedPacket, RedPacketRule
from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.groups.models import MemberRole, Membership

from .activation_helpers import foreign_activation, member_headers, stores_of_group
from .conftest import bearer, console_login, csrf_of, store_groups_of

ZONE = ZoneInfo("Asia/Shanghai")
LOCAL = "%Y-%m-%dT%H:%M"
RULE = {
    "budget": "50.00",
    "min_total": "1",
    "max_total": "20",
    "min_count": "1",
    "max_count": "10",
    "window_start": "00:00",
    "window_end": "00:00",
    "expiry_minutes": "60",
}


def _text(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert found is not None, element_id
    return html.unescape(found.group(1))


def _untagged(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def _cells(page: str, kind: str, key: object) -> list[str]:
    """Return the texts of the cells of the table row ``<tr data-{kind}="{key}">``."""
    row = re.search(rf'<tr data-{kind}="{key}">(.*?)</tr>', page)
    assert row is not None, (kind, key)
    return [_untagged(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]


def _headers(page: str, section: str) -> list[str]:
    """Return the column headers of the table in ``<section id="{section}">``."""
    found = re.search(rf'id="{section}">.*?<thead><tr>(.*?)</tr></thead>', page, re.S)
    assert found is not None, section
    return [_untagged(header) for header in re.findall(r"<th[^>]*>(.*?)</th>", found.group(1))]


def _fields(page: str, section: str) -> list[tuple[str, str, str]]:
    """Return the name, id and value of every input of the form in ``<section id=…>``."""
    found = re.search(rf'id="{section}">(.*?)</section>', page, re.S)
    assert found is not None, section
    inputs = r'<input name="([a-z_]+)" id="([a-z-]+)"[^>]*value="([^"]*)"'
    return re.findall(inputs, found.group(1))


def _pairs(page: str) -> dict[str, str]:
    """Return the terms and descriptions of a detail page's ``<dl>``."""
    pairs = re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", page)
    return {_untagged(term): _untagged(description) for term, description in pairs}


def _login(client: TestClient, username: str, page: str) -> str:
    console_login(client, username)
    return csrf_of(client, page)


def _packets(engine: Engine, group: str) -> list[tuple[int, int, str]]:
    with unit_of_work(engine) as session:
        return [
            (row.total_fen, row.count, row.sender_id)
            for row in session.scalars(
                select(RedPacket).where(RedPacket.group_id == group).order_by(RedPacket.id)
            )
        ]


def test_hq_sets_a_group_rule_and_a_supervisor_sends_within_it(
    client: TestClient, engine: Engine
) -> None:
    # given R0002's store group (no packets yet), HQ and the supervisor of R0001–R0003
    group = store_groups_of(engine, "R0002")[0]
    page = f"/groups/{group}/red-packets"
    csrf = _login(client, "hq", page)

    # when HQ sets the group's own rule: ¥50 a month, ¥1–¥20, 1–10 shares, all day
    saved = client.post(f"/groups/{group}/red-packet-rule", data={"csrf_token": csrf, **RULE})
    supervisor = TestClient(client.app)
    csrf = _login(supervisor, "supervisor", page)
    form = supervisor.get(page).text
    sent = supervisor.post(page, data={"csrf_token": csrf, "total": "8.88", "count": "4"})
    fraction = supervisor.post(page, data={"csrf_token": csrf, "total": "8.888", "count": "4"})
    too_big = supervisor.post(page, data={"csrf_token": csrf, "total": "45", "count": "2"})
    no_count = supervisor.post(page, data={"csrf_token": csrf, "total": "5", "count": "two"})
    for _ in range(2):
        supervisor.post(page, data={"csrf_token": csrf, "total": "20", "count": "2"})
    short = supervisor.post(page, data={"csrf_token": csrf, "total": "2", "count": "2"})
    rule_refused = supervisor.post(
        f"/groups/{group}/red-packet-rule", data={"csrf_token": csrf, **RULE}
    )

    # then the rule shows as the group's own, and the supervisor may send but not set it
    assert _text(saved.text, "activation-message") == "规则已保存"
    assert _text(saved.text, "rule-source") == "本群规则"
    assert _text(saved.text, "rule-budget") == "¥50.00"
    assert _text(saved.text, "rule-window") == "00:00–00:00 (全天)"
    assert 'id="rule-editor"' in saved.text
    assert 'id="rule-editor"' not in form
    assert rule_refused.status_code == 403
    # and the packet is paid from the budget, shown in the ledger and the list
    packet_id = _packets(engine, group)[0]
    assert _text(sent.text, "activation-message").startswith("红包已发出 #")
    assert _text(sent.text, "budget-spent") == "¥8.88"
    assert _text(sent.text, "budget-left") == "¥41.12"
    assert '<meter min="0" max="1" value="0.1776"' in sent.text  # 8.88 of 50
    assert "+¥8.88" in sent.text
    assert packet_id == (888, 4, "supervisor")
    # and every refusal names what was wrong and writes nothing
    assert _text(fraction.text, "activation-error") == "总金额（元）：金额最多两位小数：'8.888'"
    assert 'value="8.888"' in fraction.text
    assert _text(too_big.text, "activation-error") == (
        "红包金额应在 ¥1.00–¥20.00 之间（收到 ¥45.00）"
    )
    assert _text(no_count.text, "activation-error") == "红包个数：应为整数（收到 'two'）"
    month = utcnow().astimezone(ZONE).strftime("%Y-%m")
    assert _text(short.text, "activation-error") == (
        f"社群 {group} {month} 红包预算不足：剩余 ¥1.12，需要 ¥2.00"
    )
    assert _text(short.text, "budget-left") == "¥1.12"
    assert '<meter min="0" max="1" value="0.9776"' in short.text
    assert _packets(engine, group) == [
        (888, 4, "supervisor"),
        (2000, 2, "supervisor"),
        (2000, 2, "supervisor"),
    ]


def test_a_bad_rule_is_shown_with_what_was_entered(client: TestClient, engine: Engine) -> None:
    group = store_groups_of(engine, "R0002")[0]
    csrf = _login(client, "hq", f"/groups/{group}/red-packets")

    bad = client.post(
        f"/groups/{group}/red-packet-rule",
        data={"csrf_token": csrf, **RULE, "min_total": "30", "window_end": "25:00"},
    )
    refused_send = client.post(
        f"/groups/{group}/red-packets", data={"csrf_token": csrf, "total": "5", "count": "x"}
    )

    assert _text(bad.text, "activation-error") == (
        "红包规则有误：金额范围应满足 1 ≤ 最小 min_total_fen ≤ 最大 max_total_fen"
        "（收到 3000 和 2000 分）；时间应为 HH:MM（收到 '25:00'）"
    )
    assert 'value="25:00"' in bad.text
    assert 'id="rule-editor" open>' in bad.text
    assert 'id="rule-editor" >' in refused_send.text  # a refused packet leaves it closed
    assert _text(refused_send.text, "activation-error") == "红包个数：应为整数（收到 'x'）"
    assert _text(bad.text, "rule-source") == "租户默认"
    with unit_of_work(engine) as session:
        assert session.scalars(select(RedPacketRule)).all() == []


def test_a_flash_sale_is_created_and_shows_stock_sold_and_orders(
    client: TestClient, engine: Engine
) -> None:
    # given the rep's store group and the form's local times
    group = store_groups_of(engine, "R0001")[0]
    csrf = _login(client, "rep", f"/groups/{group}/flash-sales")
    now = utcnow().astimezone(ZONE)
    form = {
        "csrf_token": csrf,
        "sku": "SKU-WATER-24",
        "title": "清泉矿泉水 24 瓶",
        "price": "29.90",
        "stock": "10",
        "limit": "3",
        "starts": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "ends": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    }

    # when the rep creates it (plain form, then HTMX) and a member buys 2 units
    created = client.post(f"/groups/{group}/flash-sales", data=form, follow_redirects=False)
    sale_id = int(created.headers["location"].rsplit("/", 1)[1])
    hx = client.post(f"/groups/{group}/flash-sales", data=form, headers={"HX-Request": "true"})
    buyer = stores_of_group(engine, group)[0]
    member = member_headers(client, bearer(client, "hq"), buyer)
    order = client.post(f"/api/v1/flash-sales/{sale_id}/orders", json={"qty": 2}, headers=member)
    detail = client.get(f"/flash-sales/{sale_id}")
    listing = client.get(f"/groups/{group}/flash-sales")
    bad_price = client.post(f"/groups/{group}/flash-sales", data={**form, "price": "abc"})
    backwards = client.post(f"/groups/{group}/flash-sales", data={**form, "ends": form["starts"]})

    # then the sale is stored exactly and its page shows stock, sold and the order
    assert created.status_code == 303
    assert created.headers["location"] == f"/flash-sales/{sale_id}"
    assert hx.status_code == 200
    assert hx.headers["hx-redirect"] == f"/flash-sales/{sale_id + 1}"
    assert order.status_code == 201, order.text
    with unit_of_work(engine) as session:
        sale = session.get_one(FlashSale, sale_id)
        assert (sale.group_id, sale.price_fen, sale.stock, sale.per_member_limit) == (
            group, 2990, 10, 3,
        )  # fmt: skip
        assert sale.starts_at.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M") == form["starts"]
    assert (_text(detail.text, "sale-stock"), _text(detail.text, "sale-sold")) == ("10", "2")
    assert (_text(detail.text, "sale-left"), _text(detail.text, "sale-orders")) == ("8", "1")
    assert _text(detail.text, "sale-status") == "进行中"
    assert f'<td>{buyer}</td><td class="num">2</td><td class="num">¥59.80</td>' in detail.text
    starts, ends = form["starts"].replace("T", " "), form["ends"].replace("T", " ")
    assert _pairs(detail.text) == {
        "状态": "进行中",
        "商品编码": "SKU-WATER-24",
        "价格": "¥29.90",
        "每人限购": "3",
        "时间": f"{starts} – {ends}",
        "会员页": f"/h5/flash-sales/{sale_id}",
    }
    assert _headers(listing.text, "sales") == [
        "#", "商品", "价格", "已售/库存", "订单", "状态", "时间",
    ]  # fmt: skip
    assert _cells(listing.text, "sale", sale_id) == [
        str(sale_id), "清泉矿泉水 24 瓶 SKU-WATER-24", "¥29.90", "2/10", "1", "进行中",
        f"{starts} – {ends}",
    ]  # fmt: skip
    assert _cells(listing.text, "sale", sale_id + 1)[3:5] == ["0/10", "0"]
    assert [name for name, _, _ in _fields(listing.text, "new-sale")] == [
        "sku", "title", "price", "stock", "limit", "starts", "ends",
    ]  # fmt: skip
    assert _text(bad_price.text, "activation-error") == "价格（元）：不是金额：'abc'"
    assert _fields(bad_price.text, "new-sale") == [
        ("sku", "sale-sku", "SKU-WATER-24"), ("title", "sale-title", "清泉矿泉水 24 瓶"),
        ("price", "sale-price", "abc"), ("stock", "sale-stock", "10"),
        ("limit", "sale-limit", "3"), ("starts", "sale-starts", form["starts"]),
        ("ends", "sale-ends", form["ends"]),
    ]  # fmt: skip
    assert _text(backwards.text, "activation-error") == "结束时间 ends_at 应晚于开始时间 starts_at"
    with unit_of_work(engine) as session:
        assert len(session.scalars(select(FlashSale).where(FlashSale.group_id == group)).all()) == (
            2 + _demo_sales(engine, group)
        )


def _demo_sales(engine: Engine, group: str) -> int:
    """Return the flash sales the demo made in a group before the test's two."""
    with unit_of_work(engine) as session:
        return len(
            session.scalars(
                select(FlashSale.id).where(
                    FlashSale.group_id == group, FlashSale.sku != "SKU-WATER-24"
                )
            ).all()
        )


def test_a_group_buy_is_created_and_shows_its_teams(client: TestClient, engine: Engine) -> None:
    group = store_groups_of(engine, "R0001")[0]
    csrf = _login(client, "rep", f"/groups/{group}/group-buys")
    now = utcnow().astimezone(ZONE)
    form = {
        "csrf_token": csrf,
        "sku": "SKU-TEA-6",
        "title": "乌龙茶 6 瓶拼团",
        "price": "19.9",
        "team_size": "3",
        "stock": "30",
        "team_minutes": "30",
        "starts": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "ends": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }

    created = client.post(f"/groups/{group}/group-buys", data=form, follow_redirects=False)
    deal_id = int(created.headers["location"].rsplit("/", 1)[1])
    hq = bearer(client, "hq")
    leader, joiner = stores_of_group(engine, group)[:2]
    team = client.post(
        f"/api/v1/group-buys/{deal_id}/teams", headers=member_headers(client, hq, leader)
    ).json()
    client.post(
        f"/api/v1/group-buy-teams/{team['team_id']}/members",
        headers=member_headers(client, hq, joiner),
    )
    detail = client.get(f"/group-buys/{deal_id}")
    listing = client.get(f"/groups/{group}/group-buys")
    small = client.post(f"/groups/{group}/group-buys", data={**form, "stock": "2"})

    assert created.status_code == 303
    with unit_of_work(engine) as session:
        deal = session.get_one(GroupBuy, deal_id)
        assert (deal.price_fen, deal.team_size, deal.stock, deal.team_minutes) == (1990, 3, 30, 30)
    assert (_text(detail.text, "deal-reserved"), _text(detail.text, "deal-sold")) == ("2", "0")
    assert _text(detail.text, "deal-teams") == "1"
    row = re.search(rf'<tr data-team="{team["team_id"]}">(.*?)</tr>', detail.text)
    assert row is not None
    assert re.sub(r"<[^>]+>", "|", row.group(1)).strip("|").split("||") == [
        str(team["team_id"]),
        leader,
        "2/3",
        "进行中",
        datetime.fromisoformat(team["deadline"]).astimezone(ZONE).strftime("%Y-%m-%d %H:%M"),
        f"{leader}、{joiner}",
    ]
    starts, ends = form["starts"].replace("T", " "), form["ends"].replace("T", " ")
    assert _pairs(detail.text) == {
        "状态": "进行中",
        "商品编码": "SKU-TEA-6",
        "价格": "¥19.90",
        "成团人数": "3",
        "成团时限（分钟）": "30",
        "时间": f"{starts} – {ends}",
        "会员页": f"/h5/group-buys/{deal_id}",
    }
    assert _headers(listing.text, "deals") == [
        "#", "商品", "价格", "成团人数", "已售/占用/库存", "团", "状态", "结束",
    ]  # fmt: skip
    assert _cells(listing.text, "deal", deal_id) == [
        str(deal_id), "乌龙茶 6 瓶拼团 SKU-TEA-6", "¥19.90", "3", "0/2/30", "进行中 1 · 已成团 0",
        "进行中", ends,
    ]  # fmt: skip
    assert _text(small.text, "activation-error") == "库存 stock 至少够一个团（3 件，收到 2）"
    assert _fields(small.text, "new-deal") == [
        ("sku", "deal-sku", "SKU-TEA-6"), ("title", "deal-title", "乌龙茶 6 瓶拼团"),
        ("price", "deal-price", "19.9"), ("team_size", "deal-team-size", "3"),
        ("stock", "deal-stock", "2"), ("team_minutes", "deal-team-minutes", "30"),
        ("starts", "deal-starts", form["starts"]), ("ends", "deal-ends", form["ends"]),
    ]  # fmt: skip


def test_the_group_page_leads_to_the_activation_pages(client: TestClient, engine: Engine) -> None:
    group = store_groups_of(engine, "R0001")[0]
    console_login(client, "rep")

    page = client.get(f"/groups/{group}").text
    links = re.findall(r'id="to-[a-z-]+" href="([^"]+)"|href="([^"]+)" id="to-[a-z-]+"', page)

    sections = ("red-packets", "relays", "flash-sales", "group-buys", "draws", "order-lists")
    assert [first or second for first, second in links] == [
        f"/groups/{group}/{section}" for section in sections
    ]
    for section in sections:
        assert client.get(f"/groups/{group}/{section}").status_code == 200, section


def _admin_groups(engine: Engine, staff_id: str) -> set[str]:
    with unit_of_work(engine) as session:
        return set(
            session.scalars(
                select(Membership.group_id).where(
                    Membership.member_kind == ContactKind.STAFF,
                    Membership.member_id == staff_id,
                    Membership.role == MemberRole.ADMIN,
                    Membership.left_at.is_(None),
                )
            )
        )


def test_a_group_admin_sees_and_runs_only_his_groups(client: TestClient, engine: Engine) -> None:
    # given the admin A01's groups and one he does not administer, with a sale and a deal
    mine = sorted(_admin_groups(engine, "A01"))
    other = next(
        group
        for rep in ("R0001", "R0002", "R0003", "R0004", "R0005")
        for group in store_groups_of(engine, rep)
        if group not in mine
    )
    foreign = foreign_activation(engine, other)
    csrf = _login(client, "admin", f"/groups/{mine[0]}/red-packets")

    # when he opens his pages and the other group's
    own_pages = [
        client.get(f"/groups/{mine[0]}/{section}").status_code
        for section in ("red-packets", "flash-sales", "group-buys")
    ]
    hidden = {
        path: client.get(path)
        for path in (
            f"/groups/{other}/red-packets",
            f"/groups/{other}/flash-sales",
            f"/groups/{other}/group-buys",
            f"/flash-sales/{foreign['{sale_id}']}",
            f"/group-buys/{foreign['{deal_id}']}",
        )
    }
    sent = client.post(
        f"/groups/{other}/red-packets", data={"csrf_token": csrf, "total": "5", "count": "1"}
    )
    missing_sale = client.get("/flash-sales/999999")
    missing_deal = client.get("/group-buys/999999")

    # then his own answer, the other group's are missing and nothing is sent there
    assert own_pages == [200, 200, 200]
    assert {path: response.status_code for path, response in hidden.items()} == dict.fromkeys(
        hidden, 404
    )
    assert hidden[f"/flash-sales/{foreign['{sale_id}']}"].text == missing_sale.text.replace(
        "999999", foreign["{sale_id}"]
    )
    assert hidden[f"/group-buys/{foreign['{deal_id}']}"].text == missing_deal.text.replace(
        "999999", foreign["{deal_id}"]
    )
    assert other not in hidden[f"/flash-sales/{foreign['{sale_id}']}"].text
    assert sent.status_code == 404
    assert len(_packets(engine, other)) == 2  # foreign_activation: a packet, a relay's round 1


def test_an_analyst_reads_but_may_not_send_or_open(client: TestClient, engine: Engine) -> None:
    group = store_groups_of(engine, "R0002")[0]
    csrf = _login(client, "analyst", f"/groups/{group}/red-packets")

    page = client.get(f"/groups/{group}/red-packets").text
    sales = client.get(f"/groups/{group}/flash-sales").text
    sent = client.post(
        f"/groups/{group}/red-packets", data={"csrf_token": csrf, "total": "5", "count": "1"}
    )
    opened = client.post(f"/groups/{group}/flash-sales", data={"csrf_token": csrf})

    assert 'id="send"' not in page
    assert 'id="rule-editor"' not in page
    assert 'id="new-sale"' not in sales
    assert (sent.status_code, opened.status_code) == (403, 403)
    assert _packets(engine, group) == []


def test_forms_without_the_csrf_token_are_refused(client: TestClient, engine: Engine) -> None:
    group = store_groups_of(engine, "R0002")[0]
    console_login(client, "hq")

    forged = [
        client.post(f"/groups/{group}/red-packets", data={"total": "5", "count": "1"}),
        client.post(f"/groups/{group}/red-packet-rule", data=RULE),
        client.post(f"/groups/{group}/flash-sales", data={"sku": "S"}),
        client.post(f"/groups/{group}/group-buys", data={"sku": "S"}),
    ]

    assert [response.status_code for response in forged] == [403, 403, 403, 403]
    assert _packets(engine, group) == []
    with unit_of_work(engine) as session:
        assert session.scalars(select(RedPacketRule)).all() == []


def test_the_demo_shows_packets_a_live_sale_and_a_group_buy_to_the_rep(
    client: TestClient, engine: Engine
) -> None:
    # given the demo brand: its first rep's store group
    group = store_groups_of(engine, "R0001")[0]
    console_login(client, "rep")

    # when the rep opens the group's activation pages
    packets = client.get(f"/groups/{group}/red-packets").text
    sales = client.get(f"/groups/{group}/flash-sales").text
    deals = client.get(f"/groups/{group}/group-buys").text

    # then he sees three packets (one all grabbed), a live sale with orders and a deal
    with unit_of_work(engine) as session:
        sent = session.scalars(
            select(RedPacket).where(RedPacket.group_id == group).order_by(RedPacket.id)
        ).all()
        assert [(p.total_fen, p.count, p.grabbed_count) for p in sent] == [
            (888, 8, 8), (2000, 10, 6), (666, 6, 0),
        ]  # fmt: skip
        sale = session.scalars(select(FlashSale).where(FlashSale.group_id == group)).one()
        deal = session.scalars(select(GroupBuy).where(GroupBuy.group_id == group)).one()
        assert (deal.sold, deal.reserved) == (3, 2)
    assert _text(packets, "budget-spent") == "¥35.54"
    assert [int(p) for p in re.findall(r'<tr data-packet="(\d+)">', packets)] == [
        p.id for p in reversed(sent)
    ]
    assert f'<tr data-sale="{sale.id}">' in sales
    assert f"<td>{sale.sold}/50</td>" in sales
    assert 'class="status-live">进行中</td>' in sales
    assert 0 < sale.sold <= 10
    assert f'<tr data-deal="{deal.id}">' in deals
    assert "进行中 1 · 已成团 1" in deals
    # and the forms to open one start with each kind's defaults
    assert [(name, value) for name, _, value in _fields(sales, "new-sale")][:5] == [
        ("sku", ""), ("title", ""), ("price", ""), ("stock", ""), ("limit", "1"),
    ]  # fmt: skip
    assert [(name, value) for name, _, value in _fields(deals, "new-deal")][:6] == [
        ("sku", ""), ("title", ""), ("price", ""), ("team_size", "3"), ("stock", ""),
        ("team_minutes", "1440"),
    ]  # fmt: skip
    for page, form_id, hours in ((sales, "new-sale", 1), (deals, "new-deal", 7 * 24)):
        values = {name: value for name, _, value in _fields(page, form_id)}
        starts, ends = (
            datetime.strptime(values[key], LOCAL).replace(tzinfo=ZONE) for key in ("starts", "ends")
        )
        assert ends - starts == timedelta(hours=hours)


def test_the_activation_pages_speak_english_too(client: TestClient, engine: Engine) -> None:
    group = store_groups_of(engine, "R0001")[0]
    console_login(client, "rep")
    client.get("/lang/en")

    packets = client.get(f"/groups/{group}/red-packets").text
    sales = client.get(f"/groups/{group}/flash-sales").text

    assert "<h2>Red-packet budget this month <small>" in packets
    assert _text(packets, "rule-source") == "the tenant's default"
    assert "<h2>New flash sale</h2>" in sales
    assert '<html lang="en">' in packets


RULE_COLUMNS = attrgetter(
    "scope",
    "monthly_budget_fen",
    "min_total_fen",
    "max_total_fen",
    "min_count",
    "max_count",
    "window_start",
    "window_end",
    "expiry_minutes",
)


def _rule_rows(engine: Engine) -> list[tuple[object, ...]]:
    with unit_of_work(engine) as session:
        found = session.scalars(select(RedPacketRule).order_by(RedPacketRule.scope))
        return [RULE_COLUMNS(row) for row in found]


def test_hq_sets_the_tenant_default_rule_that_groups_without_their_own_follow(
    client: TestClient, engine: Engine
) -> None:
    # given HQ, a store group of R0001 and one of R0002, and no rule yet (the built-in one)
    own_group, other_group = (
        store_groups_of(engine, "R0001")[0],
        store_groups_of(engine, "R0002")[0],
    )
    csrf = _login(client, "hq", "/red-packet-rules")
    before = client.get("/red-packet-rules")
    group_page = client.get(f"/groups/{other_group}/red-packets").text

    # when HQ sets the default (¥300 a month, ¥2–¥50, 2–20 shares, 09:00–21:00, 2 hours),
    # gives one group its own rule, and then types a contradictory default
    default = {
        "csrf_token": csrf, "budget": "300", "min_total": "2", "max_total": "50",
        "min_count": "2", "max_count": "20", "window_start": "09:00", "window_end": "21:00",
        "expiry_minutes": "120",
    }  # fmt: skip
    saved = client.post("/red-packet-rules", data=default)
    client.post(f"/groups/{own_group}/red-packet-rule", data={"csrf_token": csrf, **RULE})
    listed = client.get("/red-packet-rules").text
    follower = client.get(f"/groups/{other_group}/red-packets").text
    bad = client.post("/red-packet-rules", data={**default, "min_total": "80", "max_count": "x"})
    worse = client.post("/red-packet-rules", data={**default, "min_total": "80"})

    # then the page shows the built-in rule first, then the saved default, which the group
    # without a rule of its own follows
    assert before.status_code == 200
    assert _text(before.text, "rule-source") == "内置默认"
    assert _text(before.text, "rule-budget") == "¥1,000.00"
    assert _text(before.text, "no-group-rules") == "没有社群有自己的规则"
    assert '<a href="/red-packet-rules" id="to-default-rule">' in group_page
    assert _text(saved.text, "activation-message") == "规则已保存"
    assert _text(saved.text, "rule-source") == "租户默认"
    assert [_text(saved.text, f"rule-{term}") for term in ("budget", "totals", "counts")] == [
        "¥300.00", "¥2.00–¥50.00", "2–20",
    ]  # fmt: skip
    assert _text(saved.text, "rule-window") == "09:00–21:00"
    assert 'id="rule-editor" >' in saved.text  # closed once saved
    assert _text(follower, "rule-source") == "租户默认"
    assert _text(follower, "rule-budget") == "¥300.00"
    assert _cells(listed, "scope", own_group) == [
        own_group, "¥50.00", "¥1.00–¥20.00", "1–10", "00:00–00:00", "60",
    ]  # fmt: skip
    # and a refusal names what is wrong, keeps what was typed, and changes nothing
    assert _text(bad.text, "activation-error") == "最多个数：应为整数（收到 'x'）"
    assert _text(worse.text, "activation-error") == (
        "红包规则有误：金额范围应满足 1 ≤ 最小 min_total_fen ≤ 最大 max_total_fen"
        "（收到 8000 和 5000 分）"
    )
    assert 'id="rule-editor" open>' in worse.text
    assert 'name="min_total" inputmode="decimal" required value="80"' in worse.text
    assert _text(worse.text, "rule-budget") == "¥300.00"
    assert _rule_rows(engine) == [
        ("*", 30000, 200, 5000, 2, 20, "09:00", "21:00", 120),
        (own_group, 5000, 100, 2000, 1, 10, "00:00", "00:00", 60),
    ]


def test_only_hq_sets_the_default_rule(client: TestClient, engine: Engine) -> None:
    group = store_groups_of(engine, "R0002")[0]
    csrf = _login(client, "supervisor", f"/groups/{group}/red-packets")

    page = client.get("/red-packet-rules")
    posted = client.post("/red-packet-rules", data={"csrf_token": csrf, **RULE})
    group_page = client.get(f"/groups/{group}/red-packets").text

    assert (page.status_code, posted.status_code) == (403, 403)
    assert '<p class="error" role="alert">只有总部管理员可以设置红包规则和预算</p>' in posted.text
    assert "to-default-rule" not in group_page
    assert _rule_rows(engine) == []


def test_the_bounds_of_numbers_are_the_actions_to_say(client: TestClient, engine: Engine) -> None:
    # given the rep's store group, with a flash-sale and a group-buy form
    group = store_groups_of(engine, "R0001")[0]
    csrf = _login(client, "rep", f"/groups/{group}/flash-sales")
    now = utcnow().astimezone(ZONE)
    window = {
        "starts": now.strftime(LOCAL), "ends": (now + timedelta(hours=1)).strftime(LOCAL),
    }  # fmt: skip
    sale = {"csrf_token": csrf, "sku": "S", "title": "水", "price": "1", "stock": "5", **window}
    deal = {**sale, "team_size": "3", "team_minutes": "30"}

    # when the numbers are whole but out of bounds
    no_limit = client.post(f"/groups/{group}/flash-sales", data={**sale, "limit": "0"})
    no_stock = client.post(
        f"/groups/{group}/flash-sales", data={**sale, "limit": "1", "stock": "-1"}
    )
    lonely = client.post(f"/groups/{group}/group-buys", data={**deal, "team_size": "1"})
    instant = client.post(f"/groups/{group}/group-buys", data={**deal, "team_minutes": "0"})
    no_shares = client.post(
        f"/groups/{group}/red-packets", data={"csrf_token": csrf, "total": "5", "count": "0"}
    )
    huge = client.post(f"/groups/{group}/flash-sales", data={**sale, "limit": "1", "stock": "3e9"})
    huger = client.post(
        f"/groups/{group}/flash-sales", data={**sale, "limit": "1", "stock": "3000000000"}
    )

    # then each refusal is the action's own, naming the field, and nothing is written
    assert (
        _text(no_limit.text, "activation-error") == "每人限购 per_member_limit 至少为 1（收到 0）"
    )
    assert _text(no_stock.text, "activation-error") == "库存 stock 至少为 1（收到 -1）"
    assert _text(lonely.text, "activation-error") == "成团人数 team_size 至少为 2（收到 1）"
    assert _text(instant.text, "activation-error") == "成团时限 team_minutes 至少 1 分钟（收到 0）"
    assert _text(no_shares.text, "activation-error") == "红包个数应在 1–200 之间（收到 0）"
    assert _text(huge.text, "activation-error") == "库存：应为整数（收到 '3e9'）"
    assert _text(huger.text, "activation-error") == (
        "库存：数字太大（最多 2147483647，收到 3000000000）"
    )
    with unit_of_work(engine) as session:
        assert session.scalars(select(FlashSale.sku).where(FlashSale.sku == "S")).all() == []
        assert session.scalars(select(GroupBuy.sku).where(GroupBuy.sku == "S")).all() == []
    assert _packets(engine, group) == _packets_of_demo(engine, group)


def _packets_of_demo(engine: Engine, group: str) -> list[tuple[int, int, str]]:
    with unit_of_work(engine) as session:
        return [
            (row.total_fen, row.count, row.sender_id)
            for row in session.scalars(
                select(RedPacket)
                .where(RedPacket.group_id == group, RedPacket.sender_id != "rep")
                .order_by(RedPacket.id)
            )
        ]
