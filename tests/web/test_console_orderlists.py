"""接龙 in the console through an HTTP client: lists, opening today's, cutoff, pick list, delivery."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from qunyun.activation.models import CollectedOrder, OrderCutoff, OrderLine, OrderList
from qunyun.activation.orderlists import ListItem, do_add_line, do_open_order_list
from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.org.models import Tenant

from ..conftest import Cli
from .activation_helpers import stores_of_group
from .conftest import console_login, csrf_of, store_groups_of

ZONE = ZoneInfo("Asia/Shanghai")
ITEMS = [
    ListItem("EGG30", "土鸡蛋 30 枚", 3500, "WT1"),
    ListItem("MILK", "鲜牛奶 1L", 1200, "WT1"),
    ListItem("RICE", "东北大米 5kg", 4990, "WT2"),
]


def _text(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert found is not None, element_id
    return html.unescape(found.group(1)).strip()


def _untagged(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def _rows(page: str, kind: str) -> dict[str, list[str]]:
    """Return the cells of every ``<tr data-{kind}="…">`` by its key."""
    return {
        key: [_untagged(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
        for key, row in re.findall(rf'<tr data-{kind}="([^"]+)">(.*?)</tr>', page)
    }


def _list_with_lines(engine: Engine, group: str) -> tuple[int, list[str]]:
    """Open a list in ``group`` three days ago at 10:00 local and add four lines; return it.

    S1 takes 2 EGG30 and 1 MILK, S2 3 RICE, S3 1 EGG30; the partner is the group's first store.
    """
    stores = stores_of_group(engine, group)
    local = (utcnow().astimezone(ZONE) - timedelta(days=3)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    opened = local.astimezone(ZoneInfo("UTC"))
    with unit_of_work(engine) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "demo")).one()
        order_list = do_open_order_list(
            session, tenant, group, ContactKind.STORE, stores[0], ITEMS, 500, when=opened
        )
        for minute, (member, item, qty) in enumerate(
            [(stores[1], "EGG30", 2), (stores[1], "MILK", 1), (stores[2], "RICE", 3),
             (stores[3], "EGG30", 1)],
            start=1,
        ):  # fmt: skip
            do_add_line(
                session, tenant, order_list.id, ContactKind.STORE, member, item, qty,
                when=opened + timedelta(minutes=minute),
            )  # fmt: skip
        return order_list.id, stores


def _cutoff_id(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return session.scalars(select(OrderCutoff.id)).one()


def test_hq_opens_todays_list_and_sees_it_in_the_groups_lists(
    client: TestClient, engine: Engine
) -> None:
    # given R0002's store group with no list yet, and HQ in the console
    group = store_groups_of(engine, "R0002")[0]
    stores = stores_of_group(engine, group)
    page = f"/groups/{group}/order-lists"
    console_login(client, "hq")
    csrf = csrf_of(client, page)
    empty = client.get(page).text
    form = {
        "csrf_token": csrf,
        "partner_kind": "store",
        "partner": stores[0],
        "commission": "5",
        "items": "EGG30,土鸡蛋 30 枚,35.00,WT1\n\nMILK，鲜牛奶 1L，12，WT1\n",
    }

    # when HQ opens today's list, then tries a second one, a bad item and a partner from outside
    opened = client.post(page, data=form, follow_redirects=False)
    list_id = int(opened.headers["location"].rsplit("/", 1)[1])
    shown = client.get(opened.headers["location"]).text
    listing = client.get(page).text
    again = client.post(page, data=form)
    bad_item = client.post(page, data=form | {"items": "EGG30,鸡蛋,3.5"})
    bad_price = client.post(page, data=form | {"items": "EGG30,鸡蛋,3.555,WT1"})
    outsider = client.post(page, data=form | {"partner": "S999999"})

    # then the list is open with its items, listed in the group, and each refusal says why
    assert 'id="no-order-lists"' in empty
    assert 'id="new-order-list"' in empty
    assert opened.status_code == 303
    assert _text(shown, "list-status") == "接龙中"
    assert _text(shown, "list-partner") == f"{stores[0]} (门店)"
    assert (_text(shown, "list-lines"), _text(shown, "list-total")) == ("0", "¥0.00")
    assert _rows(shown, "item") == {
        "EGG30": ["EGG30", "土鸡蛋 30 枚", "¥35.00", "WT1", "0", "¥0.00"],
        "MILK": ["MILK", "鲜牛奶 1L", "¥12.00", "WT1", "0", "¥0.00"],
    }
    today = utcnow().astimezone(ZONE).date().isoformat()
    assert _rows(listing, "list") == {
        str(list_id): [str(list_id), today, f"{stores[0]} 门店", "5.00%", "0", "0", "¥0.00"]
    }
    assert _text(again.text, "activation-error") == f"社群 {group} 今天的接龙已开"
    assert _text(bad_item.text, "activation-error") == (
        "商品第 1 行：应为 编号,名称,价格（元）,供货方（收到 'EGG30,鸡蛋,3.5'）"
    )
    assert 'value="' + stores[0] + '"' in bad_item.text  # what was typed stays
    assert '<textarea name="items" id="list-items" rows="4"' in empty
    assert re.search(r'id="list-items"[^>]*></textarea>', empty) is not None
    assert re.search(r'id="list-items"[^>]*>EGG30,鸡蛋,3.5</textarea>', bad_item.text) is not None
    assert _text(bad_price.text, "activation-error") == (
        "商品第 1 行的价格：金额最多两位小数：'3.555'"
    )
    assert _text(outsider.text, "activation-error") == "团长 S999999 不是本群成员"
    with unit_of_work(engine) as session:
        assert len(session.scalars(select(OrderList)).all()) == 1


def test_a_cutoff_locks_the_lines_into_orders_for_the_pick_list_and_the_delivery(
    client: TestClient, engine: Engine, demo: Cli, tmp_path: Path
) -> None:
    # given a list with four lines of three members, from three days ago, not cut off yet
    group = store_groups_of(engine, "R0002")[0]
    list_id, stores = _list_with_lines(engine, group)
    console_login(client, "hq")
    csrf = csrf_of(client, "/order-cutoffs")
    before = client.get(f"/order-lists/{list_id}").text
    no_cutoffs = client.get("/order-cutoffs").text

    # when HQ runs the cutoff in the console, then once more
    made = client.post("/order-cutoffs", data={"csrf_token": csrf})
    again = client.post("/order-cutoffs", data={"csrf_token": csrf})
    cutoff_id = _cutoff_id(engine)
    after = client.get(f"/order-lists/{list_id}").text
    picks = client.get(f"/order-cutoffs/{cutoff_id}/pick-list")
    picks_csv = client.get(f"/order-cutoffs/{cutoff_id}/pick-list.csv")
    delivery = client.get(f"/order-cutoffs/{cutoff_id}/delivery")
    delivery_csv = client.get(f"/order-cutoffs/{cutoff_id}/delivery.csv")
    demo("jielong", "picklist", str(cutoff_id), "--out", str(tmp_path / "picks.csv"))
    demo("jielong", "delivery", str(cutoff_id), "--out", str(tmp_path / "delivery.csv"))

    # then the list showed four waiting lines, and the cutoff locked them into three orders
    assert 'id="no-cutoffs"' in no_cutoffs
    assert [_text(before, key) for key in ("list-lines", "list-locked", "list-total")] == [
        "4", "0", "¥266.70",
    ]  # fmt: skip
    assert _text(made.text, "activation-message") == f"截单完成 #{cutoff_id}"
    assert _text(again.text, "activation-error").endswith("的截单已完成")
    assert [_text(after, key) for key in ("list-lines", "list-locked")] == ["4", "4"]
    assert {row[-1] for row in _rows(after, "line").values()} == {"已锁定"}
    with unit_of_work(engine) as session:
        orders = session.execute(
            select(
                CollectedOrder.member_id, CollectedOrder.amount_fen, CollectedOrder.commission_fen
            )
            .where(CollectedOrder.cutoff_id == cutoff_id)
            .order_by(CollectedOrder.member_id)
        ).all()
        waiting = session.scalars(select(OrderLine).where(OrderLine.cutoff_id.is_(None))).all()
    assert [tuple(order) for order in orders] == sorted(
        [(stores[1], 8200, 410), (stores[2], 14970, 748), (stores[3], 3500, 175)]
    )
    assert waiting == []
    # and the pick list sums per supplier and item, a printable section per supplier
    assert _rows(picks.text, "pick") == {
        "WT1/EGG30": ["EGG30", "土鸡蛋 30 枚", "3", "¥105.00"],
        "WT1/MILK": ["MILK", "鲜牛奶 1L", "1", "¥12.00"],
        "WT2/RICE": ["RICE", "东北大米 5kg", "3", "¥149.70"],
    }
    assert _rows(picks.text, "total") == {
        "WT1": ["合计", "4", "¥117.00"],
        "WT2": ["合计", "3", "¥149.70"],
    }
    assert re.findall(r'<section class="card printable" id="supplier-([^"]+)"', picks.text) == [
        "WT1", "WT2",
    ]  # fmt: skip
    assert 'data-print id="print"' in picks.text
    assert "@media print" in client.get("/static/console.css").text
    # and both CSV downloads are the bytes the CLI writes
    assert picks_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert picks_csv.content == (tmp_path / "picks.csv").read_bytes()
    assert picks_csv.content.decode().splitlines() == [
        "supplier_id,item_code,name,qty,amount_fen",
        "WT1,EGG30,土鸡蛋 30 枚,3,10500",
        "WT1,MILK,鲜牛奶 1L,1,1200",
        "WT2,RICE,东北大米 5kg,3,14970",
    ]
    assert delivery_csv.content == (tmp_path / "delivery.csv").read_bytes()
    # and the delivery batch lists the orders per supplier, the partner's commission
    local_cutoff = _cutoff_at(engine, cutoff_id).astimezone(ZONE)
    slot = "下午" if local_cutoff.hour < 14 else "上午"
    deliver_on = local_cutoff.date() + timedelta(days=0 if local_cutoff.hour < 14 else 1)
    assert _rows(made.text, "cutoff") == {
        str(cutoff_id): [
            str(cutoff_id), f"{local_cutoff:%Y-%m-%d %H:%M}", f"{deliver_on} {slot}",
            "拣货单配送批次",
        ]
    }  # fmt: skip
    assert _text(delivery.text, "cutoff-deliver") == f"{deliver_on} {slot}"
    assert (_text(delivery.text, "delivery-orders"), _text(delivery.text, "delivery-total")) == (
        "3", "¥266.70",
    )  # fmt: skip
    orders_by_member = {member: order for order, member in _order_ids(engine, cutoff_id)}
    assert _rows(delivery.text, "delivery") == {
        f"WT1/{orders_by_member[stores[1]]}": [
            group, stores[0], str(orders_by_member[stores[1]]), f"{stores[1]} 门店", "¥82.00",
        ],
        f"WT1/{orders_by_member[stores[3]]}": [
            group, stores[0], str(orders_by_member[stores[3]]), f"{stores[3]} 门店", "¥35.00",
        ],
        f"WT2/{orders_by_member[stores[2]]}": [
            group, stores[0], str(orders_by_member[stores[2]]), f"{stores[2]} 门店", "¥149.70",
        ],
    }  # fmt: skip
    assert _rows(delivery.text, "commission") == {stores[0]: [stores[0], "¥13.33"]}


def _order_ids(engine: Engine, cutoff_id: int) -> list[tuple[int, str]]:
    with unit_of_work(engine) as session:
        return [
            (order_id, member)
            for order_id, member in session.execute(
                select(CollectedOrder.id, CollectedOrder.member_id).where(
                    CollectedOrder.cutoff_id == cutoff_id
                )
            )
        ]


def _cutoff_at(engine: Engine, cutoff_id: int) -> datetime:
    with unit_of_work(engine) as session:
        return session.get_one(OrderCutoff, cutoff_id).cutoff_at


def test_the_pages_keep_to_the_scope_and_the_roles(client: TestClient, engine: Engine) -> None:
    # given a cut-off list in a group of R0005, outside the territory of the rep R0001
    other = store_groups_of(engine, "R0005")[0]
    list_id, stores = _list_with_lines(engine, other)
    hq = TestClient(client.app)
    console_login(hq, "hq")
    hq.post("/order-cutoffs", data={"csrf_token": csrf_of(hq, "/order-cutoffs")})
    cutoff_id = _cutoff_id(engine)
    own = store_groups_of(engine, "R0001")[0]
    console_login(client, "rep")
    csrf = csrf_of(client, f"/groups/{own}/order-lists")

    # when the rep opens the other group's pages, the cutoff's, and tries to open a list there
    hidden = {
        path: client.get(path)
        for path in (f"/groups/{other}/order-lists", f"/order-lists/{list_id}")
    }
    missing = client.get("/order-lists/999999")
    opened = client.post(
        f"/groups/{other}/order-lists",
        data={"csrf_token": csrf, "partner": stores[0], "items": "A,a,1,W"},
    )
    picks = client.get(f"/order-cutoffs/{cutoff_id}/pick-list").text
    picks_csv = client.get(f"/order-cutoffs/{cutoff_id}/pick-list.csv").text
    delivery = client.get(f"/order-cutoffs/{cutoff_id}/delivery").text
    unknown_cutoff = client.get("/order-cutoffs/999999/pick-list")
    own_page = client.get(f"/groups/{own}/order-lists")

    # then the other group's list is missing to him, and the cutoff shows none of its lines
    assert {path: response.status_code for path, response in hidden.items()} == dict.fromkeys(
        hidden, 404
    )
    assert hidden[f"/order-lists/{list_id}"].text == missing.text.replace("999999", str(list_id))
    assert opened.status_code == 404
    assert 'id="nothing-to-pick"' in picks
    assert "WT1" not in picks
    assert picks_csv.splitlines() == ["supplier_id,item_code,name,qty,amount_fen"]
    assert 'id="no-deliveries"' in delivery
    assert stores[0] not in delivery
    assert unknown_cutoff.status_code == 404
    assert own_page.status_code == 200
    with unit_of_work(engine) as session:
        assert len(session.scalars(select(OrderList)).all()) == 1


def test_an_analyst_reads_but_may_not_open_or_cut_off(client: TestClient, engine: Engine) -> None:
    group = store_groups_of(engine, "R0002")[0]
    stores = stores_of_group(engine, group)
    console_login(client, "analyst")
    csrf = csrf_of(client, "/order-cutoffs")

    page = client.get(f"/groups/{group}/order-lists").text
    cutoffs = client.get("/order-cutoffs").text
    opened = client.post(
        f"/groups/{group}/order-lists",
        data={"csrf_token": csrf, "partner": stores[0], "items": "A,a,1,W"},
    )
    cut = client.post("/order-cutoffs", data={"csrf_token": csrf})

    assert 'id="new-order-list"' not in page
    assert 'id="new-cutoff"' not in cutoffs
    assert (opened.status_code, cut.status_code) == (403, 403)
    with unit_of_work(engine) as session:
        assert session.scalars(select(OrderCutoff)).all() == []


@pytest.mark.parametrize("username", ["rep", "supervisor", "manager", "admin"])
def test_only_hq_may_cut_off_brand_wide(client: TestClient, engine: Engine, username: str) -> None:
    # given waiting lines in a group of the person's own scope (R0001's group: the demo's rep,
    # his supervisor and manager, and its group admin all reach it)
    group = store_groups_of(engine, "R0001")[0]
    _list_with_lines(engine, group)
    console_login(client, username)
    csrf = csrf_of(client, f"/groups/{group}/order-lists")

    # when he opens the cutoffs page and presses 立即截单 anyway
    page = client.get("/order-cutoffs").text
    cut = client.post("/order-cutoffs", data={"csrf_token": csrf})

    # then the button is not there, the cutoff is refused with the reason, and nothing locked
    assert 'id="new-cutoff"' not in page
    assert 'id="make-cutoff"' not in page
    assert cut.status_code == 403
    assert "只有总部管理员可以立即截单：截单会锁定全品牌所有社群的接龙" in cut.text
    with unit_of_work(engine) as session:
        assert session.scalars(select(OrderCutoff)).all() == []
        assert (
            session.scalars(select(OrderLine.id).where(OrderLine.cutoff_id.is_not(None))).all()
            == []
        )


def test_hq_sees_the_cutoff_button(client: TestClient) -> None:
    console_login(client, "hq")

    page = client.get("/order-cutoffs").text

    assert 'id="make-cutoff"' in page


def test_forms_without_the_csrf_token_are_refused(client: TestClient, engine: Engine) -> None:
    group = store_groups_of(engine, "R0002")[0]
    stores = stores_of_group(engine, group)
    console_login(client, "hq")

    forged = [
        client.post(
            f"/groups/{group}/order-lists", data={"partner": stores[0], "items": "A,a,1,W"}
        ),
        client.post("/order-cutoffs"),
    ]

    assert [response.status_code for response in forged] == [403, 403]
    with unit_of_work(engine) as session:
        assert session.scalars(select(OrderList)).all() == []
        assert session.scalars(select(OrderCutoff)).all() == []


def test_the_group_page_links_the_order_lists_and_they_speak_english(
    client: TestClient, engine: Engine
) -> None:
    group = store_groups_of(engine, "R0001")[0]
    console_login(client, "rep")
    client.get("/lang/en")

    page = client.get(f"/groups/{group}").text
    lists = client.get(f"/groups/{group}/order-lists").text
    cutoffs = client.get("/order-cutoffs").text

    assert f'href="/groups/{group}/order-lists" id="to-order-lists"' in page
    assert "<h1>Order lists" in lists
    assert "Open today&#39;s list" in lists or "Open today's list" in lists
    assert "<h1>Cutoffs" in cutoffs
