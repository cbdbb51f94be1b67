"""接龙 order collection, the village partner model of seed 002.

A partner (团长) opens today's list in a group with the items on offer (price, supplying store
or warehouse); members add lines (item, quantity). At each cutoff (the tenant's own times,
see ``cutoffs``, else ``QUNYUN_ORDER_CUTOFFS``: 12:00 and 20:00 local by default) the lines
added before it are locked by one conditional update (``cutoff_id IS NULL``) and become one order per member and list, with the partner's
commission, and each order an ``order`` event of the outbox (``order_events``); a cutoff before 14:00 is delivered the same afternoon, a later one the next
morning. The pick list sums the quantities per supplier and item; the delivery batch lists the
orders per supplier, group and partner.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import ColumnElement, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qunyun.activation.common import require_member
from qunyun.activation.cutoffs import tenant_cutoff_times
from qunyun.activation.errors import Ended
from qunyun.activation.models import (
    CollectedOrder,
    OrderCutoff,
    OrderLine,
    OrderList,
    OrderListItem,
)
from qunyun.activation.order_events import (
    collected_order_id,
    order_event_params,
    record_order_events,
)
from qunyun.activation.schedule import local_moment, next_day
from qunyun.channel.models import ContactKind
from qunyun.core.clock import local_date, to_local, utcnow
from qunyun.core.errors import Conflict, InvalidInput, NotFound
from qunyun.groups.models import Group
from qunyun.org.models import Tenant

AFTERNOON_BEFORE = time(14, 0)
"""Cutoffs before this local time are delivered the same afternoon, later ones next morning."""


@dataclass(frozen=True)
class ListItem:
    """An item a partner offers on a list."""

    item_code: str
    name: str
    price_fen: int
    supplier_id: str


@dataclass(frozen=True)
class CutoffSummary:
    """What a cutoff made: orders, lines, amount, commission, and when they are delivered."""

    cutoff_id: int
    cutoff_at: datetime
    orders: int
    lines: int
    amount_fen: int
    commission_fen: int
    deliver_on: date
    delivery_slot: str


def cutoff_times(session: Session, tenant: Tenant) -> list[time]:
    """Return the tenant's local cutoff times of a day (its own, or ``QUNYUN_ORDER_CUTOFFS``)."""
    return tenant_cutoff_times(session, tenant)


def do_open_order_list(
    session: Session,
    tenant: Tenant,
    group_id: str,
    partner_kind: ContactKind,
    partner_id: str,
    items: list[ListItem],
    commission_bp: int,
    *,
    when: datetime | None = None,
) -> OrderList:
    """Open today's list of a group with its items.

    Raise NotFound for an unknown group or a partner who is not in it, InvalidInput for no
    items, a bad price or commission, and Conflict when the group already has today's list.
    """
    when = when or utcnow()
    group = session.get(Group, (tenant.id, group_id))
    if group is None or group.archived_at is not None:
        raise NotFound(f"没有社群 {group_id}")
    require_member(session, tenant, group_id, partner_kind, partner_id, f"社群 {group_id}")
    if not items:
        raise InvalidInput("接龙至少需要一个商品")
    if not 0 <= commission_bp <= 10_000 or any(item.price_fen < 0 for item in items):
        raise InvalidInput("佣金应在 0–100% 之间，价格不能为负")
    if len({item.item_code for item in items}) != len(items):
        raise InvalidInput("商品编号重复")
    order_list = OrderList(
        tenant_id=tenant.id,
        group_id=group_id,
        list_date=local_date(when, tenant.timezone),
        partner_kind=partner_kind,
        partner_id=partner_id,
        commission_bp=commission_bp,
        created_at=when,
    )
    session.add(order_list)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"社群 {group_id} 今天的接龙已开") from error
    session.execute(
        insert(OrderListItem),
        [
            {
                "list_id": order_list.id,
                "item_code": item.item_code,
                "tenant_id": tenant.id,
                "name": item.name,
                "price_fen": item.price_fen,
                "supplier_id": item.supplier_id,
            }
            for item in items
        ],
    )
    return order_list


def do_add_line(
    session: Session,
    tenant: Tenant,
    list_id: int,
    member_kind: ContactKind,
    member_id: str,
    item_code: str,
    qty: int,
    *,
    when: datetime | None = None,
) -> OrderLine:
    """Add a member's line to a list.

    Raise NotFound for an unknown list, item or a member not in the group, InvalidInput for
    qty < 1, and Ended when the list is not today's or today's last cutoff has passed.
    """
    when = when or utcnow()
    order_list = session.scalar(
        select(OrderList).where(OrderList.id == list_id, OrderList.tenant_id == tenant.id)
    )
    if order_list is None:
        raise NotFound(f"没有接龙 {list_id}")
    require_member(session, tenant, order_list.group_id, member_kind, member_id, f"接龙 {list_id}")
    if qty < 1:
        raise InvalidInput("数量至少为 1")
    last = local_moment(order_list.list_date, cutoff_times(session, tenant)[-1], tenant.timezone)
    if local_date(when, tenant.timezone) != order_list.list_date or when >= last:
        raise Ended(f"接龙 {list_id} 已截单")
    item = session.get(OrderListItem, (list_id, item_code))
    if item is None:
        raise NotFound(f"接龙 {list_id} 没有商品 {item_code}")
    line = OrderLine(
        tenant_id=tenant.id,
        list_id=list_id,
        member_kind=member_kind,
        member_id=member_id,
        item_code=item_code,
        qty=qty,
        amount_fen=qty * item.price_fen,
        added_at=when,
    )
    session.add(line)
    session.flush()
    return line


def latest_cutoff(session: Session, tenant: Tenant, when: datetime) -> datetime:
    """Return the latest cutoff moment at or before ``when`` (today's or yesterday's last)."""
    today = local_date(when, tenant.timezone)
    times = cutoff_times(session, tenant)
    passed = [local_moment(today, at, tenant.timezone) for at in times]
    passed = [moment for moment in passed if moment <= when]
    if passed:
        return passed[-1]
    yesterday = date.fromordinal(today.toordinal() - 1)
    return local_moment(yesterday, times[-1], tenant.timezone)


def do_cutoff(session: Session, tenant: Tenant, cutoff_at: datetime) -> CutoffSummary:
    """Lock the lines added before ``cutoff_at`` into orders, one per member and list.

    Raise Conflict when this cutoff was already made.
    """
    local = to_local(cutoff_at, tenant.timezone)
    early = local.time() < AFTERNOON_BEFORE
    cutoff = OrderCutoff(
        tenant_id=tenant.id,
        cutoff_at=cutoff_at,
        deliver_on=local.date() if early else next_day(local.date()),
        delivery_slot="afternoon" if early else "morning",
        created_at=utcnow(),
    )
    session.add(cutoff)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"{local:%Y-%m-%d %H:%M} 的截单已完成") from error
    locked = session.execute(
        update(OrderLine)
        .where(
            OrderLine.tenant_id == tenant.id,
            OrderLine.cutoff_id.is_(None),
            OrderLine.added_at < cutoff_at,
        )
        .values(cutoff_id=cutoff.id)
        .returning(
            OrderLine.id,
            OrderLine.list_id,
            OrderLine.member_kind,
            OrderLine.member_id,
            OrderLine.amount_fen,
        )
    ).all()
    by_order: dict[tuple[int, ContactKind, str], list[tuple[int, int]]] = defaultdict(list)
    for line_id, list_id, member_kind, member_id, amount in locked:
        by_order[(list_id, member_kind, member_id)].append((line_id, amount))
    lists = {
        list_id: (rate, group_id)
        for list_id, rate, group_id in session.execute(
            select(OrderList.id, OrderList.commission_bp, OrderList.group_id).where(
                OrderList.id.in_({list_id for list_id, _, _ in by_order})
            )
        ).all()
    }
    connection = session.connection()
    events = []
    commission_total = 0
    for (list_id, member_kind, member_id), lines in sorted(by_order.items()):
        amount = sum(value for _, value in lines)
        rate, group_id = lists[list_id]
        commission = amount * rate // 10_000
        commission_total += commission
        order_id = session.execute(
            insert(CollectedOrder)
            .values(
                tenant_id=tenant.id,
                cutoff_id=cutoff.id,
                list_id=list_id,
                member_kind=member_kind,
                member_id=member_id,
                amount_fen=amount,
                commission_fen=commission,
            )
            .returning(CollectedOrder.id)
        ).scalar_one()
        session.execute(
            update(OrderLine)
            .where(OrderLine.id.in_([line_id for line_id, _ in lines]))
            .values(order_id=order_id)
        )
        events.append(
            order_event_params(
                connection,
                tenant_id=tenant.id,
                order_id=collected_order_id(order_id),
                group_id=group_id,
                member_kind=member_kind.value,
                member_id=member_id,
                amount_fen=amount,
                when=cutoff_at,
            )
        )
    # the orders, in the lake as each member's order in the list's group
    record_order_events(connection, events)
    return CutoffSummary(
        cutoff_id=cutoff.id,
        cutoff_at=cutoff_at,
        orders=len(by_order),
        lines=len(locked),
        amount_fen=sum(amount for *_, amount in locked),
        commission_fen=commission_total,
        deliver_on=cutoff.deliver_on,
        delivery_slot=cutoff.delivery_slot,
    )


def order_cutoff(session: Session, tenant: Tenant, cutoff_id: int) -> OrderCutoff:
    """Return a cutoff of the tenant; raise NotFound when it has none of that id."""
    cutoff = session.scalar(
        select(OrderCutoff).where(OrderCutoff.id == cutoff_id, OrderCutoff.tenant_id == tenant.id)
    )
    if cutoff is None:
        raise NotFound(f"没有截单 {cutoff_id}")
    return cutoff


PICK_LIST_HEADER = ["supplier_id", "item_code", "name", "qty", "amount_fen"]
DELIVERY_HEADER = [
    "supplier_id", "group_id", "partner_id", "order_id", "member_kind", "member_id",
    "amount_fen", "deliver_on", "slot",
]  # fmt: skip


def recent_cutoffs(session: Session, tenant: Tenant, limit: int = 20) -> list[OrderCutoff]:
    """Return the tenant's latest ``limit`` cutoffs, newest first."""
    return list(
        session.scalars(
            select(OrderCutoff)
            .where(OrderCutoff.tenant_id == tenant.id)
            .order_by(OrderCutoff.cutoff_at.desc())
            .limit(limit)
        )
    )


def _lists_of_groups(tenant: Tenant, in_scope: ColumnElement[bool]) -> Select[int]:
    """Return the ids of the tenant's lists in groups that meet ``in_scope`` (a Group condition)."""
    return select(OrderList.id).where(
        OrderList.tenant_id == tenant.id,
        OrderList.group_id.in_(
            select(Group.group_id).where(Group.tenant_id == tenant.id, in_scope)
        ),
    )


def pick_list(
    session: Session,
    tenant: Tenant,
    cutoff_id: int,
    *,
    in_scope: ColumnElement[bool] | None = None,
) -> list[list[str | int]]:
    """Return the quantities to pick per supplier and item for a cutoff (PICK_LIST_HEADER).

    ``in_scope`` (a condition on ``Group``) keeps the lines of those groups' lists only.
    """
    order_cutoff(session, tenant, cutoff_id)
    scoped = (
        () if in_scope is None else (OrderLine.list_id.in_(_lists_of_groups(tenant, in_scope)),)
    )
    rows = session.execute(
        select(
            OrderListItem.supplier_id,
            OrderLine.item_code,
            OrderListItem.name,
            func.sum(OrderLine.qty),
            func.sum(OrderLine.amount_fen),
        )
        .join(
            OrderListItem,
            (OrderListItem.list_id == OrderLine.list_id)
            & (OrderListItem.item_code == OrderLine.item_code),
        )
        .where(OrderLine.cutoff_id == cutoff_id, *scoped)
        .group_by(OrderListItem.supplier_id, OrderLine.item_code, OrderListItem.name)
        .order_by(OrderListItem.supplier_id, OrderLine.item_code)
    ).all()
    return [
        [supplier, code, name, int(qty), int(amount)] for supplier, code, name, qty, amount in rows
    ]


def delivery_batch(
    session: Session,
    tenant: Tenant,
    cutoff_id: int,
    *,
    in_scope: ColumnElement[bool] | None = None,
) -> list[list[str | int]]:
    """Return a cutoff's orders to deliver, per supplier, group and partner (DELIVERY_HEADER).

    ``in_scope`` (a condition on ``Group``) keeps the orders of those groups' lists only.
    """
    cutoff = order_cutoff(session, tenant, cutoff_id)
    scoped = (
        ()
        if in_scope is None
        else (CollectedOrder.list_id.in_(_lists_of_groups(tenant, in_scope)),)
    )
    rows = session.execute(
        select(
            OrderListItem.supplier_id,
            OrderList.group_id,
            OrderList.partner_id,
            CollectedOrder.id,
            CollectedOrder.member_kind,
            CollectedOrder.member_id,
            func.sum(OrderLine.amount_fen),
        )
        .join(OrderLine, OrderLine.order_id == CollectedOrder.id)
        .join(
            OrderListItem,
            (OrderListItem.list_id == OrderLine.list_id)
            & (OrderListItem.item_code == OrderLine.item_code),
        )
        .join(OrderList, OrderList.id == CollectedOrder.list_id)
        .where(CollectedOrder.cutoff_id == cutoff_id, *scoped)
        .group_by(
            OrderListItem.supplier_id,
            OrderList.group_id,
            OrderList.partner_id,
            CollectedOrder.id,
            CollectedOrder.member_kind,
            CollectedOrder.member_id,
        )
        .order_by(OrderListItem.supplier_id, OrderList.group_id, CollectedOrder.id)
    ).all()
    return [
        [supplier, group, partner, order, kind.value, member, int(amount),
         cutoff.deliver_on.isoformat(), cutoff.delivery_slot]
        for supplier, group, partner, order, kind, member, amount in rows
    ]  # fmt: skip


def partner_commissions(
    session: Session,
    tenant: Tenant,
    cutoff_id: int,
    *,
    in_scope: ColumnElement[bool] | None = None,
) -> dict[str, int]:
    """Return each partner's commission (fen) from a cutoff's orders (of ``in_scope`` groups)."""
    order_cutoff(session, tenant, cutoff_id)
    scoped = (
        ()
        if in_scope is None
        else (CollectedOrder.list_id.in_(_lists_of_groups(tenant, in_scope)),)
    )
    rows = session.execute(
        select(OrderList.partner_id, func.sum(CollectedOrder.commission_fen))
        .join(OrderList, OrderList.id == CollectedOrder.list_id)
        .where(CollectedOrder.cutoff_id == cutoff_id, *scoped)
        .group_by(OrderList.partner_id)
    ).all()
    return {partner: int(total) for partner, total in rows}


@dataclass(frozen=True)
class LineView:
    """A member's line on a list."""

    id: int
    member_kind: ContactKind
    member_id: str
    item_code: str
    qty: int
    amount_fen: int
    added_at: datetime
    is_locked: bool


@dataclass(frozen=True)
class ListView:
    """A list with its items and lines (in the order they were added)."""

    id: int
    group_id: str
    list_date: date
    partner_kind: ContactKind
    partner_id: str
    commission_bp: int
    closes_at: datetime
    is_open: bool
    """Whether members may still add lines (today's list, before its last cutoff)."""
    items: list[ListItem]
    lines: list[LineView]


def order_list_detail(
    session: Session, tenant: Tenant, list_id: int, *, when: datetime | None = None
) -> ListView:
    """Return a list with its items and lines; raise NotFound when not the tenant's."""
    when = when or utcnow()
    order_list = session.scalar(
        select(OrderList).where(OrderList.id == list_id, OrderList.tenant_id == tenant.id)
    )
    if order_list is None:
        raise NotFound(f"没有接龙 {list_id}")
    items = session.scalars(
        select(OrderListItem)
        .where(OrderListItem.list_id == list_id)
        .order_by(OrderListItem.item_code)
    ).all()
    lines = session.scalars(
        select(OrderLine).where(OrderLine.list_id == list_id).order_by(OrderLine.id)
    ).all()
    closes_at = local_moment(
        order_list.list_date, cutoff_times(session, tenant)[-1], tenant.timezone
    )
    return ListView(
        id=order_list.id,
        group_id=order_list.group_id,
        list_date=order_list.list_date,
        partner_kind=order_list.partner_kind,
        partner_id=order_list.partner_id,
        commission_bp=order_list.commission_bp,
        closes_at=closes_at,
        is_open=local_date(when, tenant.timezone) == order_list.list_date and when < closes_at,
        items=[
            ListItem(item.item_code, item.name, item.price_fen, item.supplier_id) for item in items
        ],
        lines=[
            LineView(
                id=line.id,
                member_kind=line.member_kind,
                member_id=line.member_id,
                item_code=line.item_code,
                qty=line.qty,
                amount_fen=line.amount_fen,
                added_at=line.added_at,
                is_locked=line.cutoff_id is not None,
            )
            for line in lines
        ],
    )


@dataclass(frozen=True)
class ListRow:
    """A list of a group as its listing shows it: partner, lines and their amount."""

    id: int
    list_date: date
    partner_kind: ContactKind
    partner_id: str
    commission_bp: int
    lines: int
    locked_lines: int
    amount_fen: int


def group_order_lists(
    session: Session, tenant: Tenant, group_id: str, limit: int = 30
) -> list[ListRow]:
    """Return a group's latest ``limit`` lists, newest first, with their lines' figures."""
    lines = (
        select(
            OrderLine.list_id,
            func.count().label("lines"),
            func.count(OrderLine.cutoff_id).label("locked"),
            func.sum(OrderLine.amount_fen).label("amount"),
        )
        .where(OrderLine.tenant_id == tenant.id)
        .group_by(OrderLine.list_id)
        .subquery()
    )
    rows = session.execute(
        select(OrderList, lines.c.lines, lines.c.locked, lines.c.amount)
        .outerjoin(lines, lines.c.list_id == OrderList.id)
        .where(OrderList.tenant_id == tenant.id, OrderList.group_id == group_id)
        .order_by(OrderList.list_date.desc(), OrderList.id.desc())
        .limit(limit)
    ).all()
    return [
        ListRow(
            id=row.id,
            list_date=row.list_date,
            partner_kind=row.partner_kind,
            partner_id=row.partner_id,
            commission_bp=row.commission_bp,
            lines=int(count or 0),
            locked_lines=int(locked or 0),
            amount_fen=int(amount or 0),
        )
        for row, count, locked, amount in rows
    ]
