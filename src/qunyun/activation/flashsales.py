"""Flash sales (秒杀): never oversold, never past the per-member limit, one order per attempt.

SQL path, in one transaction: the member's count rises by an upsert that only applies while
it stays within the limit, then the sale's ``sold`` rises by a conditional update that only
applies while stock remains (``sold + qty <= stock``, also a CHECK), then the order row and
its ``order`` event (the outbox, ``order_events``) are written. Any refusal rolls the whole
attempt back. On PostgreSQL the read (sale, membership, earlier attempt) and the writes are
one statement (CTEs) in autocommit: an order is one round trip, and the sale's row lock is
held only while PostgreSQL runs it.
Redis path: one Lua script checks the window, the limit and the stock, takes the units, gives
the order its id and logs it; ``persist`` applies the log to SQL (``hot`` says why nothing
acknowledged is lost). An ``attempt_id`` (unique per sale) turns a retried attempt into the
order it already made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine, Row, func, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from qunyun.activation.common import (
    Attempt,
    Rows,
    Sql,
    Statement,
    attempt,
    check_offer,
    epoch_ms,
    in_session,
    is_member_sql,
    outcome,
    read_time,
)
from qunyun.activation.errors import Ended, LimitExceeded, NotStarted, SoldOut
from qunyun.activation.hot import Claim, RedisHotState, member_key
from qunyun.activation.lane import OneStatement, Together
from qunyun.activation.models import FlashSale, FlashSaleOrder
from qunyun.activation.order_events import (
    ORDER_EVENT,
    PLACED_EVENTS_POSTGRESQL,
    flash_sale_order_id,
    order_event_params,
)
from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.errors import Conflict, InvalidInput, NotFound
from qunyun.groups.models import Group
from qunyun.org.models import Tenant


@dataclass(frozen=True)
class SaleView:
    """A sale as staff see it: stock, units sold, and every order."""

    id: int
    group_id: str
    sku: str
    title: str
    price_fen: int
    per_member_limit: int
    starts_at: datetime
    ends_at: datetime
    stock: int
    sold: int
    orders: list[FlashSaleOrder]


def check_create_flash_sale(
    session: Session,
    tenant: Tenant,
    group_id: str,
    sku: str,
    title: str,
    price_fen: int,
    stock: int,
    per_member_limit: int,
    starts_at: datetime,
    ends_at: datetime,
) -> None:
    """Raise NotFound for an unknown group and InvalidInput for impossible numbers or times."""
    group = session.get(Group, (tenant.id, group_id))
    if group is None or group.archived_at is not None:
        raise NotFound(f"没有社群 {group_id}")
    check_offer(sku, title, price_fen, stock, starts_at, ends_at)
    if per_member_limit < 1:
        raise InvalidInput(f"每人限购 per_member_limit 至少为 1（收到 {per_member_limit}）")


def do_create_flash_sale(
    session: Session,
    tenant: Tenant,
    group_id: str,
    sku: str,
    title: str,
    price_fen: int,
    stock: int,
    per_member_limit: int,
    starts_at: datetime,
    ends_at: datetime,
) -> FlashSale:
    """Create a flash sale in a group after ``check_create_flash_sale``."""
    check_create_flash_sale(
        session, tenant, group_id, sku, title, price_fen, stock, per_member_limit, starts_at,
        ends_at,
    )  # fmt: skip
    sale = FlashSale(
        tenant_id=tenant.id,
        group_id=group_id,
        sku=sku,
        title=title,
        price_fen=price_fen,
        stock=stock,
        sold=0,
        per_member_limit=per_member_limit,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=utcnow(),
    )
    session.add(sale)
    session.flush()
    return sale


def _earlier_order(attempt: str) -> str:
    """Return the SQL of the order the attempt ``attempt`` already made in sale ``s``, if any.

    Most attempts carry no id (NULL): the test of NULL first, so that they look nothing up.
    Without it a prepared statement's generic plan, made while the sale had few orders, may
    find the order through ``ix_flash_sale_orders_member`` (by ``sale_id`` alone, the attempt
    id a filter) instead of the unique key: every order of the sale read for each attempt, a
    cost that grows with the sale (0.5 ms of PostgreSQL per order at 1,000 orders, 2.9 at
    7,000; ``docs/benchmarks.md``, session 9).
    """
    return f"""SELECT o.id FROM flash_sale_orders o
   WHERE CAST({attempt} AS text) IS NOT NULL AND o.sale_id = s.id AND o.attempt_id = {attempt}"""


_READ_FOR_ORDER = Sql(
    f"""
SELECT s.group_id, s.price_fen, s.per_member_limit, s.starts_at, s.ends_at,
  {is_member_sql("s")} AS is_member,
  ({_earlier_order(":attempt")}) AS earlier_order
FROM flash_sales s WHERE s.id = :sale AND s.tenant_id = :tenant
"""
)
_BUYER = """
INSERT INTO flash_sale_buyers (sale_id, member_kind, member_id, bought)
VALUES (:sale, :kind, :member, :qty)
ON CONFLICT (sale_id, member_kind, member_id)
DO UPDATE SET bought = flash_sale_buyers.bought + excluded.bought
WHERE flash_sale_buyers.bought + excluded.bought <= :limit
RETURNING bought
"""
_SELL = """
UPDATE flash_sales SET sold = sold + :qty
WHERE id = :sale AND sold + :qty <= stock AND starts_at <= :now AND ends_at > :now
"""
_ORDER = """
INSERT INTO flash_sale_orders
  (tenant_id, sale_id, member_kind, member_id, qty, amount_fen, attempt_id, created_at)
VALUES (:tenant, :sale, :kind, :member, :qty, :amount, :attempt, :now)
RETURNING id
"""
_BUYER_SQLITE = Sql(_BUYER)
_SELL_SQLITE = Sql(_SELL + "RETURNING sold")
_ORDER_SQLITE = Sql(_ORDER)
# PostgreSQL: the whole attempt is one statement, one round trip. ``verdict`` reads the sale,
# the membership, an earlier order of the attempt and the member's count (the statement's
# snapshot; MATERIALIZED, so that the membership and the count are each read once, not once
# per use) and refuses without writing; an attempt it lets through takes the member's count,
# the stock and the order by conditional writes that re-check against the latest rows, so a
# concurrent attempt that got there first still refuses this one. Data-modifying CTEs all run
# to completion, so a sale found short after the count rose must fail the statement (the
# guard's cast) to undo the count.
_ORDER_POSTGRESQL = Sql(
    f"""
WITH sale AS MATERIALIZED (
  SELECT s.price_fen, s.per_member_limit, s.starts_at, s.ends_at, s.stock - s.sold AS remaining,
    {is_member_sql("s")} AS is_member,
    ({_earlier_order(":attempt")}) AS earlier_order,
    COALESCE((SELECT b.bought FROM flash_sale_buyers b
      WHERE b.sale_id = s.id AND b.member_kind = :kind AND b.member_id = :member), 0) AS bought
  FROM flash_sales s WHERE s.id = :sale AND s.tenant_id = :tenant),
verdict AS (
  SELECT sale.*, CASE
    WHEN NOT is_member THEN 'not_found'
    WHEN earlier_order IS NOT NULL THEN 'replay'
    WHEN :now < starts_at THEN 'not_started'
    WHEN :now >= ends_at THEN 'ended'
    WHEN bought + :qty > per_member_limit THEN 'limit_exceeded'
    WHEN remaining < :qty THEN 'sold_out'
    ELSE 'ok' END AS status
  FROM sale),
buyer AS (
  INSERT INTO flash_sale_buyers (sale_id, member_kind, member_id, bought)
  SELECT :sale, :kind, :member, :qty FROM verdict WHERE status = 'ok'
  ON CONFLICT (sale_id, member_kind, member_id)
  DO UPDATE SET bought = flash_sale_buyers.bought + excluded.bought
  WHERE flash_sale_buyers.bought + excluded.bought <= (SELECT per_member_limit FROM verdict)
  RETURNING bought),
sold AS ({_SELL} AND EXISTS (SELECT 1 FROM buyer) RETURNING sold),
placed AS (
  INSERT INTO flash_sale_orders
    (tenant_id, sale_id, member_kind, member_id, qty, amount_fen, attempt_id, created_at)
  SELECT :tenant, :sale, :kind, :member, :qty, :qty * verdict.price_fen, :attempt, :now
  FROM sold, verdict
  RETURNING id, tenant_id, sale_id, member_kind, member_id, amount_fen, created_at),
event AS ({PLACED_EVENTS_POSTGRESQL})
SELECT verdict.status, verdict.earlier_order, verdict.per_member_limit,
  (SELECT count(*) FROM buyer) AS counted, (SELECT id FROM placed) AS order_id,
  CASE WHEN EXISTS (SELECT 1 FROM buyer) AND NOT EXISTS (SELECT 1 FROM placed)
       THEN CAST((SELECT 'sold out: ' || bought FROM buyer) AS integer) END AS guard
FROM verdict
"""
)


def do_order_flash_sale(
    session: Session,
    tenant: Tenant,
    sale_id: int,
    member_kind: ContactKind,
    member_id: str,
    qty: int,
    *,
    attempt_id: str | None = None,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> FlashSaleOrder:
    """Buy ``qty`` units for the member in the session's transaction; return the order.

    With ``hot`` the units are taken in Redis and the order applied to SQL in this
    transaction too. Raise what ``order_flash_sale`` raises.
    """
    order_id = order_on(
        in_session(session),
        tenant.id,
        sale_id,
        member_kind,
        member_id,
        qty,
        attempt_id=attempt_id,
        when=when,
        hot=hot,
    )
    order = session.get(FlashSaleOrder, order_id)
    if order is None:
        raise Conflict(f"下单请求 {attempt_id} 正在处理，请稍后查看订单")
    return order


def order_flash_sale(
    engine: Engine,
    tenant_id: int,
    sale_id: int,
    member_kind: ContactKind,
    member_id: str,
    qty: int,
    *,
    attempt_id: str | None = None,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> int:
    """Buy ``qty`` units for the member on a connection of its own; return the order id.

    The same ``attempt_id`` (unique per sale) returns the order it already made. On SQL the
    order is committed when this returns; with ``hot`` it is decided and logged in Redis and
    ``persist`` applies it to SQL.

    Raise NotFound when the sale is not the tenant's or the member is not in its group,
    InvalidInput for qty < 1, NotStarted / Ended outside the window, LimitExceeded past the
    per-member limit and SoldOut when the stock left is short.
    """
    with attempt(engine) as buy:
        return order_on(
            buy,
            tenant_id,
            sale_id,
            member_kind,
            member_id,
            qty,
            attempt_id=attempt_id,
            when=when,
            hot=hot,
        )


def order_on(
    buy: Attempt,
    tenant_id: int,
    sale_id: int,
    member_kind: ContactKind,
    member_id: str,
    qty: int,
    *,
    attempt_id: str | None = None,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> int:
    """Order as ``order_flash_sale`` does, on an attempt the caller runs (the hot lane's too)."""
    when = when or utcnow()
    at_once = order_statement(
        buy, tenant_id, sale_id, member_kind, member_id, qty, attempt_id=attempt_id, when=when,
        hot=hot,
    )  # fmt: skip
    if at_once is not None:
        with buy.write() as connection:
            return at_once.run(connection)
    params = _order_params(buy, tenant_id, sale_id, member_kind, member_id, qty, attempt_id, when)
    sale = _READ_FOR_ORDER.run(buy.connection, **params).first()
    if sale is None or not sale.is_member:
        raise NotFound(f"没有秒杀 {sale_id}")
    if qty < 1:
        raise InvalidInput("购买数量至少为 1")
    if sale.earlier_order is not None:
        return int(sale.earlier_order)
    if hot is not None:
        return _order_in_redis(
            buy, sale_id, sale, member_kind, member_id, qty, attempt_id, when, hot
        )
    _check_window(sale_id, read_time(sale.starts_at), read_time(sale.ends_at), when)
    limit = int(sale.per_member_limit)
    if qty > limit:
        raise LimitExceeded(f"每人限购 {limit} 件")
    params |= {"limit": limit, "amount": qty * int(sale.price_fen)}
    try:
        with buy.write() as connection:
            if _BUYER_SQLITE.run(connection, **params).first() is None:
                raise LimitExceeded(f"每人限购 {limit} 件")
            if _SELL_SQLITE.run(connection, **params).first() is None:
                _check_window(sale_id, read_time(sale.starts_at), read_time(sale.ends_at), when)
                raise SoldOut(f"秒杀 {sale_id} 库存不足")
            order_id = int(_ORDER_SQLITE.run(connection, **params).scalar_one())
            ORDER_EVENT.run(
                connection,
                **order_event_params(
                    connection,
                    tenant_id=tenant_id,
                    order_id=flash_sale_order_id(order_id),
                    group_id=sale.group_id,
                    member_kind=member_kind.value,
                    member_id=member_id,
                    amount_fen=params["amount"],
                    when=when,
                ),
            )
            return order_id
    except IntegrityError as error:
        raise Conflict(f"下单请求 {attempt_id} 正在处理，请稍后查看订单") from error


def _order_params(
    buy: Attempt,
    tenant_id: int,
    sale_id: int,
    member_kind: ContactKind,
    member_id: str,
    qty: int,
    attempt_id: str | None,
    when: datetime,
) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "sale": sale_id,
        "kind": member_kind.value,
        "member": member_id,
        "qty": qty,
        "attempt": attempt_id,
        "now": buy.time(when),
    }


def order_statement(
    buy: Attempt,
    tenant_id: int,
    sale_id: int,
    member_kind: ContactKind,
    member_id: str,
    qty: int,
    *,
    attempt_id: str | None = None,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> Statement[int] | None:
    """Return the order as one statement (``_ORDER_POSTGRESQL``) on PostgreSQL with SQL state.

    Return None elsewhere, and for a quantity under 1 (refused by ``order_on`` after the read).
    """
    if not buy.is_postgresql or hot is not None or qty < 1:
        return None
    when = when or utcnow()
    return Statement(
        _ORDER_POSTGRESQL,
        _order_params(buy, tenant_id, sale_id, member_kind, member_id, qty, attempt_id, when),
        partial(_ordered_at_once, sale_id),
        partial(_order_refusal, sale_id, attempt_id),
    )


def _order_refusal(sale_id: int, attempt_id: str | None, error: DBAPIError) -> Exception | None:
    if isinstance(error, DataError):  # the guard: the count rose but the stock was short by then
        return SoldOut(f"秒杀 {sale_id} 库存不足")
    if isinstance(error, IntegrityError):  # the same attempt id placed at the same moment
        return Conflict(f"下单请求 {attempt_id} 正在处理，请稍后查看订单")
    return None


def _ordered_at_once(sale_id: int, rows: Rows) -> int:
    """Read the row of ``_ORDER_POSTGRESQL``: the order placed (or replayed), or a refusal."""
    row = rows.first()
    if row is None or row.status == "not_found":
        raise NotFound(f"没有秒杀 {sale_id}")
    if row.status == "replay":
        return int(row.earlier_order)
    if row.status == "ok" and not row.counted:  # another attempt of the member got there first
        _raise_refusal(sale_id, int(row.per_member_limit), "limit_exceeded")
    if row.status != "ok":
        _raise_refusal(sale_id, int(row.per_member_limit), row.status)
    return int(row.order_id)


def order_in_batch(
    *,
    tenant_id: int,
    sale_id: int,
    member_kind: ContactKind,
    member_id: str,
    qty: int,
    attempt_id: str | None = None,
    when: datetime | None = None,
) -> OneStatement:
    """Return an order on SQL hot state that the hot lane batches (one statement on PostgreSQL)."""
    arguments: dict[str, Any] = {
        "tenant_id": tenant_id,
        "sale_id": sale_id,
        "member_kind": member_kind,
        "member_id": member_id,
        "qty": qty,
        "attempt_id": attempt_id,
        "when": when,
    }
    return OneStatement(
        partial(order_on, **arguments),
        partial(order_statement, **arguments),
        together=orders_at_once,
        request=arguments,
    )


# PostgreSQL: a batch of orders, in their order, as ONE statement, when every one of them is
# placed; otherwise it writes nothing and answers NULL ids, and the lane places them one
# statement each (which answers each refusal as alone). ``verdict`` reads what each order of
# ``_ORDER_POSTGRESQL`` reads, as if the orders before it in the batch were placed (running
# sums by member and by sale); the writes then take each member's units and each sale's
# stock once, by conditional writes that re-check the latest rows: a batch that a concurrent
# one overtook fails the statement (the guard's cast), which undoes it all. The order ids are
# drawn in the batch's order (PostgreSQL computes a volatile ``nextval`` after the sort).
_ORDERS_AT_ONCE_POSTGRESQL = Sql(
    f"""
WITH r AS MATERIALIZED (
  SELECT * FROM unnest(CAST(:tenants AS bigint[]), CAST(:sales AS bigint[]),
    CAST(:kinds AS text[]), CAST(:members AS text[]), CAST(:quantities AS integer[]),
    CAST(:attempts AS text[]), CAST(:moments AS timestamptz[]))
    WITH ORDINALITY AS r(tenant, sale, kind, member, qty, attempt, at, i)),
verdict AS MATERIALIZED (
  SELECT r.*, s.id AS found, s.price_fen, s.per_member_limit, s.starts_at, s.ends_at,
    s.stock - s.sold AS remaining, {is_member_sql("s", "r.kind", "r.member")} AS is_member,
    ({_earlier_order("r.attempt")}) AS earlier_order,
    COALESCE((SELECT b.bought FROM flash_sale_buyers b
      WHERE b.sale_id = s.id AND b.member_kind = r.kind AND b.member_id = r.member), 0)
      + sum(r.qty) OVER (PARTITION BY r.sale, r.kind, r.member ORDER BY r.i) AS bought,
    sum(r.qty) OVER (PARTITION BY r.sale ORDER BY r.i) AS taken,
    count(r.attempt) OVER (PARTITION BY r.sale, r.attempt) AS attempts
  FROM r LEFT JOIN flash_sales s ON s.id = r.sale AND s.tenant_id = r.tenant),
decided AS (
  SELECT COALESCE(bool_and(found IS NOT NULL AND is_member AND earlier_order IS NULL
    AND attempts <= 1 AND qty >= 1 AND starts_at <= at AND at < ends_at
    AND bought <= per_member_limit AND taken <= remaining), false) AS ok,
    count(DISTINCT (sale, kind, member)) AS members, count(DISTINCT sale) AS sales,
    count(*) AS orders
  FROM verdict),
buyer AS (
  INSERT INTO flash_sale_buyers (sale_id, member_kind, member_id, bought)
  SELECT sale, kind, member, sum(qty) FROM verdict WHERE (SELECT ok FROM decided)
  GROUP BY sale, kind, member
  ON CONFLICT (sale_id, member_kind, member_id)
  DO UPDATE SET bought = flash_sale_buyers.bought + excluded.bought
  WHERE flash_sale_buyers.bought + excluded.bought
    <= (SELECT max(v.per_member_limit) FROM verdict v WHERE v.sale = excluded.sale_id)
  RETURNING sale_id),
sold AS (
  UPDATE flash_sales s SET sold = s.sold + t.qty
  FROM (SELECT sale, sum(qty) AS qty, min(at) AS first_at, max(at) AS last_at
        FROM verdict GROUP BY sale) t
  WHERE s.id = t.sale AND s.sold + t.qty <= s.stock
    AND s.starts_at <= t.first_at AND s.ends_at > t.last_at
    AND (SELECT count(*) FROM buyer) = (SELECT members FROM decided)
  RETURNING s.id),
numbered AS MATERIALIZED (
  SELECT v.i, nextval(CAST(pg_get_serial_sequence('flash_sale_orders', 'id') AS regclass))
    AS order_id
  FROM verdict v WHERE (SELECT count(*) FROM sold) = (SELECT sales FROM decided)
    AND (SELECT ok FROM decided)
  ORDER BY v.i),
placed AS (
  INSERT INTO flash_sale_orders
    (id, tenant_id, sale_id, member_kind, member_id, qty, amount_fen, attempt_id, created_at)
  SELECT n.order_id, v.tenant, v.sale, v.kind, v.member, v.qty, v.qty * v.price_fen,
    v.attempt, v.at
  FROM numbered n JOIN verdict v ON v.i = n.i
  RETURNING id, tenant_id, sale_id, member_kind, member_id, amount_fen, created_at),
event AS ({PLACED_EVENTS_POSTGRESQL})
SELECT v.i, n.order_id,
  CASE WHEN (SELECT ok FROM decided)
        AND (SELECT count(*) FROM placed) <> (SELECT orders FROM decided)
       THEN CAST('batch overtaken: ' || (SELECT count(*) FROM placed) AS integer) END AS guard
FROM verdict v LEFT JOIN numbered n ON n.i = v.i
ORDER BY v.i
"""
)


def orders_at_once(
    buy: Attempt, orders: list[dict[str, Any]]
) -> Statement[list[Any] | None] | None:
    """Return a batch of orders as one statement (``_ORDERS_AT_ONCE_POSTGRESQL``) on PostgreSQL.

    ``orders`` are the arguments of each ``order_in_batch``, in order. The statement answers
    each order's id, or None when not every order was placed (it then wrote nothing: the lane
    runs each alone). Return None elsewhere, and for a quantity under 1 (refused alone, after
    the read).
    """
    if not buy.is_postgresql or any(order["qty"] < 1 for order in orders):
        return None
    now = utcnow()
    params = {
        "tenants": [order["tenant_id"] for order in orders],
        "sales": [order["sale_id"] for order in orders],
        "kinds": [order["member_kind"].value for order in orders],
        "members": [order["member_id"] for order in orders],
        "quantities": [order["qty"] for order in orders],
        "attempts": [order["attempt_id"] for order in orders],
        "moments": [order["when"] or now for order in orders],
    }
    return Statement(_ORDERS_AT_ONCE_POSTGRESQL, params, _placed_at_once, _never_refused)


def _placed_at_once(rows: Rows) -> list[Any] | None:
    ids = [row.order_id for row in rows.all()]
    if not ids or any(order_id is None for order_id in ids):
        return None
    return [int(order_id) for order_id in ids]


def _never_refused(error: DBAPIError) -> Exception | None:
    return None


def _order_in_redis(
    buy: Attempt,
    sale_id: int,
    sale: Row[Any],
    member_kind: ContactKind,
    member_id: str,
    qty: int,
    attempt_id: str | None,
    when: datetime,
    hot: RedisHotState,
) -> int:
    from qunyun.activation import persist  # persist applies what this module decides

    member = member_key(member_kind.value, member_id)
    claim = hot.buy(sale_id, member, qty, epoch_ms(when), attempt_id or "")
    if claim.status == "missing":
        persist.catch_up(buy, hot)
        load_sale_state(buy.connection, sale_id, hot, when)
        claim = hot.buy(sale_id, member, qty, epoch_ms(when), attempt_id or "")
    if claim.status == "replay" and not buy.owns_transactions:
        persist.catch_up(buy, hot)
    order_id = _bought(claim, sale_id, int(sale.per_member_limit))
    if claim.status == "ok" and not buy.owns_transactions:  # SQL has it when the caller commits
        placed = persist.Placed(sale_id, member, qty, order_id, attempt_id or "", when)
        with buy.write() as connection:
            persist.apply_orders(connection, [placed])
    return order_id


def _bought(claim: Claim, sale_id: int, limit: int) -> int:
    """Return the order id a buy script answered (placed, or the attempt's earlier one)."""
    if claim.status not in ("ok", "replay"):
        _raise_refusal(sale_id, limit, claim.status)
    return int(claim.value)


@dataclass(frozen=True)
class OrderRequest:
    """A member's order waiting to be bought in Redis with others (``order_together``)."""

    hot: RedisHotState
    tenant_id: int
    sale_id: int
    member_kind: ContactKind
    member_id: str
    qty: int
    attempt_id: str | None


def order_together(
    hot: RedisHotState,
    *,
    tenant_id: int,
    sale_id: int,
    member_kind: ContactKind,
    member_id: str,
    qty: int,
    attempt_id: str | None = None,
) -> Together:
    """Return an order on Redis hot state that the hot lane runs with the others waiting."""
    request = OrderRequest(hot, tenant_id, sale_id, member_kind, member_id, qty, attempt_id)
    return Together(orders_in_redis, request)  # fmt: skip


# The reads of ``_READ_FOR_ORDER`` for many orders at once, answered in their order.
_READ_FOR_ORDERS = Sql(
    f"""
SELECT s.id AS sale_id, s.per_member_limit, {is_member_sql("s", "r.kind", "r.member")} AS is_member,
  ({_earlier_order("r.attempt")}) AS earlier_order
FROM unnest(CAST(:tenants AS bigint[]), CAST(:sales AS bigint[]), CAST(:kinds AS text[]),
            CAST(:members AS text[]), CAST(:attempts AS text[]))
  WITH ORDINALITY AS r(tenant, sale, kind, member, attempt, i)
LEFT JOIN flash_sales s ON s.id = r.sale AND s.tenant_id = r.tenant
ORDER BY r.i
"""
)


def orders_in_redis(buy: Attempt, requests: list[OrderRequest]) -> list[int | Exception]:
    """Order for each request as ``order_on`` does with ``hot``; answer each order id or refusal.

    On PostgreSQL, on a connection of its own: the sales, memberships and earlier orders of
    all requests in one read, then their buys in one Redis pipeline; a buy whose sale is not in
    Redis (``missing``) then runs alone, which loads it. Elsewhere each runs alone.
    """
    when = utcnow()
    hot = requests[0].hot
    if not (buy.is_postgresql and buy.owns_transactions) or any(
        request.hot is not hot for request in requests
    ):
        return [_order_alone(buy, request, when) for request in requests]
    rows = _READ_FOR_ORDERS.run(
        buy.connection,
        tenants=[request.tenant_id for request in requests],
        sales=[request.sale_id for request in requests],
        kinds=[request.member_kind.value for request in requests],
        members=[request.member_id for request in requests],
        attempts=[request.attempt_id for request in requests],
    ).all()
    answers: list[int | Exception] = []
    buying: list[int] = []
    for index, (request, row) in enumerate(zip(requests, rows, strict=True)):
        if row.sale_id is None or not row.is_member:
            answers.append(NotFound(f"没有秒杀 {request.sale_id}"))
        elif request.qty < 1:
            answers.append(InvalidInput("购买数量至少为 1"))
        elif row.earlier_order is not None:
            answers.append(int(row.earlier_order))
        else:
            answers.append(Conflict(f"秒杀 {request.sale_id} 的下单未完成，请重试"))
            buying.append(index)
    claims = hot.buy_many(
        [
            (
                requests[index].sale_id,
                member_key(requests[index].member_kind.value, requests[index].member_id),
                requests[index].qty,
                epoch_ms(when),
                requests[index].attempt_id or "",
            )
            for index in buying
        ]
    )
    for index, claim in zip(buying, claims, strict=True):
        if isinstance(claim, Exception):
            answers[index] = claim
        elif claim.status == "missing":  # alone: it drains the log and loads the sale
            answers[index] = _order_alone(buy, requests[index], when)
        else:
            limit = int(rows[index].per_member_limit)
            answers[index] = outcome(partial(_bought, claim, requests[index].sale_id, limit))
    return answers


def _order_alone(buy: Attempt, request: OrderRequest, when: datetime) -> int | Exception:
    return outcome(
        partial(
            order_on, buy, request.tenant_id, request.sale_id, request.member_kind,
            request.member_id, request.qty, attempt_id=request.attempt_id, when=when,
            hot=request.hot,
        )
    )  # fmt: skip


def _check_window(sale_id: int, starts_at: datetime, ends_at: datetime, when: datetime) -> None:
    if when < starts_at:
        raise NotStarted(f"秒杀 {sale_id} 尚未开始")
    if when >= ends_at:
        raise Ended(f"秒杀 {sale_id} 已结束")


def _raise_refusal(sale_id: int, limit: int, status: str) -> NoReturn:
    if status == "not_started":
        raise NotStarted(f"秒杀 {sale_id} 尚未开始")
    if status == "ended":
        raise Ended(f"秒杀 {sale_id} 已结束")
    if status == "limit_exceeded":
        raise LimitExceeded(f"每人限购 {limit} 件")
    if status == "sold_out":
        raise SoldOut(f"秒杀 {sale_id} 库存不足")
    raise Conflict(f"秒杀 {sale_id} 状态异常：{status}")


_FOR_LOAD = Sql(
    """
SELECT s.stock - s.sold AS remaining, s.per_member_limit, s.starts_at, s.ends_at,
  (SELECT max(id) FROM flash_sale_orders) AS last_order_id
FROM flash_sales s WHERE s.id = :sale
"""
)
_BUYERS_FOR_LOAD = Sql(
    "SELECT member_kind, member_id, bought FROM flash_sale_buyers WHERE sale_id = :sale"
)
_ATTEMPTS_FOR_LOAD = Sql(
    "SELECT attempt_id, id FROM flash_sale_orders WHERE sale_id = :sale AND attempt_id IS NOT NULL"
)


def load_sale_state(
    connection: Connection, sale_id: int, hot: RedisHotState, when: datetime | None = None
) -> bool:
    """Load a sale's stock left, per-member counts and attempts into Redis as SQL has them.

    Drain the log into SQL first (``persist``), or orders not yet applied are sold again.
    """
    sale = _FOR_LOAD.run(connection, sale=sale_id).first()
    if sale is None:
        return False
    bought = _BUYERS_FOR_LOAD.run(connection, sale=sale_id).all()
    attempts = _ATTEMPTS_FOR_LOAD.run(connection, sale=sale_id).all()
    return hot.load_sale(
        sale_id,
        remaining=int(sale.remaining),
        limit=int(sale.per_member_limit),
        starts_ms=epoch_ms(read_time(sale.starts_at)),
        ends_ms=epoch_ms(read_time(sale.ends_at)),
        bought=[(member_key(row.member_kind, row.member_id), row.bought) for row in bought],
        attempts=[(row.attempt_id, row.id) for row in attempts],
        last_order_id=int(sale.last_order_id or 0),
        now_ms=epoch_ms(when or utcnow()),
    )


def flash_sale_detail(
    session: Session, tenant: Tenant, sale_id: int, hot: RedisHotState | None = None
) -> SaleView:
    """Return a sale with its orders (oldest first); raise NotFound when not the tenant's.

    With ``hot`` the orders Redis acknowledged and SQL has not applied yet are applied first.
    """
    if hot is not None:
        from qunyun.activation import persist

        persist.catch_up(in_session(session), hot)
    sale = session.scalar(
        select(FlashSale).where(FlashSale.id == sale_id, FlashSale.tenant_id == tenant.id)
    )
    if sale is None:
        raise NotFound(f"没有秒杀 {sale_id}")
    orders = session.scalars(
        select(FlashSaleOrder).where(FlashSaleOrder.sale_id == sale_id).order_by(FlashSaleOrder.id)
    ).all()
    return SaleView(
        id=sale.id,
        group_id=sale.group_id,
        sku=sale.sku,
        title=sale.title,
        price_fen=sale.price_fen,
        per_member_limit=sale.per_member_limit,
        starts_at=sale.starts_at,
        ends_at=sale.ends_at,
        stock=sale.stock,
        sold=sale.sold,
        orders=list(orders),
    )


def units_bought(session: Session, sale_id: int) -> dict[tuple[ContactKind, str], int]:
    """Return the units each member bought, summed over their orders."""
    rows = session.execute(
        select(FlashSaleOrder.member_kind, FlashSaleOrder.member_id, func.sum(FlashSaleOrder.qty))
        .where(FlashSaleOrder.sale_id == sale_id)
        .group_by(FlashSaleOrder.member_kind, FlashSaleOrder.member_id)
    ).all()
    return {(kind, member): int(total) for kind, member, total in rows}
