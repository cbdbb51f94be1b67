"""Orders as ``order`` events of the activation outbox, on their way to the lake.

Which orders are events, and when:

- a flash-sale order (秒杀) when it is placed: the order row and its event are written by the
  same statement (PostgreSQL: a data-modifying CTE after the insert) or transaction;
- a 拼团 member's unit when the team **completes**: one event per member of the team, at the
  deal's price, at the moment of the completing join. An open team is no revenue yet and a
  cancelled one (its units released) never is, so a failed team writes no event;
- a 接龙 order (one per member and list) when a cutoff locks the member's lines into it.

Each event's ``order_id`` names the order in the lake (``flash_sale:<order id>``,
``group_buy:<team id>:<member kind>:<member id>``, ``order_list:<collected order id>``) and its
``event_id`` is the MD5 of ``tenant:order_id`` as a UUID, which PostgreSQL computes the same
way (``md5(…)::uuid``): a statement, a re-applied log entry and an export agree on it, and the
lake drops an event it already has. The strings hold a letter, so they never meet the ids of
red-packet events (``tenant:packet:position``, digits only).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from qunyun.activation.common import Sql, db_time

FLASH_SALE = "flash_sale"
GROUP_BUY = "group_buy"
ORDER_LIST = "order_list"


def order_event_id(tenant_id: int, order_id: str) -> str:
    """Return the event id of the order ``order_id`` (the lake's) of a tenant."""
    digest = hashlib.md5(f"{tenant_id}:{order_id}".encode(), usedforsecurity=False)
    return str(uuid.UUID(digest.hexdigest()))


def flash_sale_order_id(order_id: int) -> str:
    """Return the lake's ``order_id`` of a flash-sale order."""
    return f"{FLASH_SALE}:{order_id}"


def team_order_id(team_id: int, member_kind: str, member_id: str) -> str:
    """Return the lake's ``order_id`` of a member's unit in a completed 拼团 team."""
    return f"{GROUP_BUY}:{team_id}:{member_kind}:{member_id}"


def collected_order_id(order_id: int) -> str:
    """Return the lake's ``order_id`` of a 接龙 order made at a cutoff."""
    return f"{ORDER_LIST}:{order_id}"


_COLUMNS = "(event_id, tenant_id, ts, kind, group_id, member_kind, member_id, amount_fen, order_id)"

ORDER_EVENT = Sql(
    f"""
INSERT INTO activation_events {_COLUMNS}
VALUES (:event_id, :tenant, :now, 'order', :group_id, :kind, :member, :amount, :order_id)
ON CONFLICT (event_id) DO NOTHING
"""
)
"""One order's event, its ids computed in Python (``order_event_params``)."""

PLACED_EVENTS_POSTGRESQL = f"""INSERT INTO activation_events {_COLUMNS}
  SELECT md5(p.tenant_id || ':' || '{FLASH_SALE}:' || p.id)::uuid::text, p.tenant_id, p.created_at,
    'order', f.group_id, p.member_kind, p.member_id, p.amount_fen, '{FLASH_SALE}:' || p.id
  FROM placed p JOIN flash_sales f ON f.id = p.sale_id
  ON CONFLICT (event_id) DO NOTHING"""
"""The events of the flash-sale orders a statement inserted: a CTE after ``placed``, which
returns the orders' ``id, tenant_id, sale_id, member_kind, member_id, amount_fen,
created_at``; the sale's group is the group of the event. (No ``:`` before a letter: ``Sql``
would read it as a parameter.)"""


def order_event_params(
    connection: Connection,
    *,
    tenant_id: int,
    order_id: str,
    group_id: str,
    member_kind: str,
    member_id: str,
    amount_fen: int,
    when: datetime,
) -> dict[str, Any]:
    """Return the parameters of ``ORDER_EVENT`` for one order."""
    return {
        "event_id": order_event_id(tenant_id, order_id),
        "tenant": tenant_id,
        "now": db_time(connection, when),
        "group_id": group_id,
        "kind": member_kind,
        "member": member_id,
        "amount": amount_fen,
        "order_id": order_id,
    }


def record_order_events(connection: Connection, events: Sequence[dict[str, Any]]) -> None:
    """Write order events (``order_event_params``) in one call, skipping those already there."""
    ORDER_EVENT.run_many(connection, events)


_TEAM_ORDERS = Sql(
    """
SELECT m.member_kind, m.member_id, d.tenant_id, d.group_id, d.price_fen
FROM group_buy_members m JOIN group_buys d ON d.id = m.deal_id
WHERE m.team_id = :team
"""
)


def record_team_orders(connection: Connection, team_id: int, completed_at: datetime) -> int:
    """Write an ``order`` event for each member of a team that completed now; return how many.

    Call in the transaction whose join completed the team, after its last member is seated.
    """
    events = [
        order_event_params(
            connection,
            tenant_id=int(row.tenant_id),
            order_id=team_order_id(team_id, row.member_kind, row.member_id),
            group_id=row.group_id,
            member_kind=row.member_kind,
            member_id=row.member_id,
            amount_fen=int(row.price_fen),
            when=completed_at,
        )
        for row in _TEAM_ORDERS.run(connection, team=team_id).all()
    ]
    record_order_events(connection, events)
    return len(events)
