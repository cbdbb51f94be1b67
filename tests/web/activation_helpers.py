"""Helpers of the activation web tests: an all-day red-packet rule, group members, tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from qunyun.activation.models import ALL_GROUPS
from qunyun.activation.redpackets import DEFAULT_RULE, Rule, do_set_rule
from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.groups.models import Membership
from qunyun.org.models import Tenant


def allow_packets_all_day(engine: Engine, budget_fen: int = 10**9, slug: str = "demo") -> None:
    """Let every group of the tenant send packets at any hour from a large month budget."""
    rule = Rule(
        monthly_budget_fen=budget_fen,
        min_total_fen=1,
        max_total_fen=DEFAULT_RULE.max_total_fen,
        min_count=1,
        max_count=DEFAULT_RULE.max_count,
        window_start="00:00",
        window_end="00:00",
        expiry_minutes=DEFAULT_RULE.expiry_minutes,
        scope=ALL_GROUPS,
    )
    with unit_of_work(engine) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one()
        do_set_rule(session, tenant, rule)


def stores_of_group(engine: Engine, group_id: str) -> list[str]:
    """Return the ids of the stores with an open stay in a group, by id."""
    with unit_of_work(engine) as session:
        return list(
            session.scalars(
                select(Membership.member_id)
                .where(
                    Membership.group_id == group_id,
                    Membership.member_kind == ContactKind.STORE,
                    Membership.left_at.is_(None),
                )
                .order_by(Membership.member_id)
            )
        )


def member_headers(
    client: TestClient, staff: dict[str, str], member_id: str, kind: str = "store"
) -> dict[str, str]:
    """Return the Authorization header of a member token issued with the staff headers."""
    response = client.post(
        "/api/v1/members/token",
        json={"member_kind": kind, "member_id": member_id},
        headers=staff,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def sale_body(
    group_id: str, stock: int = 5, limit: int = 2, minutes: int = 60
) -> dict[str, object]:
    """Return the body of a flash sale open now for ``minutes``."""
    now = utcnow()
    return {
        "group_id": group_id,
        "sku": "SKU-WATER-24",
        "title": "清泉矿泉水 24 瓶",
        "price_fen": 2990,
        "stock": stock,
        "per_member_limit": limit,
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(minutes=minutes)).isoformat(),
    }


def group_buy_body(group_id: str, team_size: int = 3, stock: int = 30) -> dict[str, object]:
    """Return the body of a 拼团 deal open now for an hour."""
    now = utcnow()
    return {
        "group_id": group_id,
        "sku": "SKU-TEA-6",
        "title": "乌龙茶 6 瓶拼团",
        "price_fen": 1990,
        "team_size": team_size,
        "stock": stock,
        "team_minutes": 30,
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }


def order_list_body(group_id: str, partner_id: str) -> dict[str, object]:
    """Return the body of today's 接龙 list run by a store of the group."""
    return {
        "group_id": group_id,
        "partner_kind": "store",
        "partner_id": partner_id,
        "commission_bp": 500,
        "items": [
            {"item_code": "EGG30", "name": "土鸡蛋 30 枚", "price_fen": 3500, "supplier_id": "W01"},
            {"item_code": "MILK", "name": "鲜牛奶 1L", "price_fen": 1200, "supplier_id": "W01"},
        ],
    }


def foreign_activation(engine: Engine, group_id: str) -> dict[str, str]:
    """Make a packet, relay, sale, deal with a team, 接龙 list and draw in a group; return path fillers."""
    from qunyun.activation.draws import do_open_draw
    from qunyun.activation.flashsales import do_create_flash_sale
    from qunyun.activation.groupbuys import do_create_group_buy, do_open_team
    from qunyun.activation.orderlists import ListItem, do_open_order_list
    from qunyun.activation.redpackets import do_create_red_packet, do_start_relay

    allow_packets_all_day(engine)
    member = stores_of_group(engine, group_id)[0]
    now = utcnow()
    with unit_of_work(engine) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "demo")).one()
        packet = do_create_red_packet(session, tenant, group_id, 300, 3)
        sale = do_create_flash_sale(
            session, tenant, group_id, "SKU", "秒杀", 100, 5, 1, now, now + timedelta(hours=1)
        )
        deal = do_create_group_buy(
            session, tenant, group_id, "SKU", "拼团", 100, 3, 9, 30, now, now + timedelta(hours=1)
        )
        team = do_open_team(session, tenant, deal.id, ContactKind.STORE, member)
        order_list = do_open_order_list(
            session,
            tenant,
            group_id,
            ContactKind.STORE,
            member,
            [ListItem("EGG30", "土鸡蛋 30 枚", 3500, "W01")],
            0,
        )
        draw = do_open_draw(
            session, tenant, group_id, "抽奖", now + timedelta(hours=1), prizes=["茶礼盒"]
        )
        relay = do_start_relay(session, tenant, group_id, 300, 3, 2)
        return {
            "{draw_id}": str(draw.id),
            "{relay_id}": str(relay.id),
            "{packet_id}": str(packet.id),
            "{sale_id}": str(sale.id),
            "{deal_id}": str(deal.id),
            "{team_id}": str(team.id),
            "{list_id}": str(order_list.id),
        }


def activation_bodies(group_id: str, store_id: str) -> dict[str, dict[str, object]]:
    """Return a valid body of every activation POST, aimed at ``group_id``."""
    return {
        "/api/v1/members/token": {"member_kind": "store", "member_id": store_id},
        "/api/v1/red-packets": {"group_id": group_id, "total_fen": 300, "count": 3},
        "/api/v1/flash-sales": sale_body(group_id),
        "/api/v1/group-buys": group_buy_body(group_id),
        "/api/v1/order-lists": order_list_body(group_id, store_id),
        "/api/v1/flash-sales/{sale_id}/orders": {"qty": 1},
        "/api/v1/order-lists/{list_id}/lines": {"item_code": "EGG30", "qty": 1},
        "/api/v1/draws": draw_body(group_id),
        "/api/v1/relays": {"group_id": group_id, "total_fen": 300, "count": 3, "rounds": 2},
    }


def draw_body(group_id: str, minutes: int = 60) -> dict[str, object]:
    """Return the body of a draw with two prizes, taking entries for ``minutes`` from now."""
    return {
        "group_id": group_id,
        "title": "周年庆抽奖",
        "prizes": ["茶礼盒", "优惠券"],
        "entries_close_at": (utcnow() + timedelta(minutes=minutes)).isoformat(),
    }
