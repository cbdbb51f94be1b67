"""Flash sales (秒杀): never oversold, never past the per-member limit, one order per attempt.

SQL path, in one transaction: the member's count rises by an upsert that only applies while
it stays within the limit, then the sale's ``sold`` rises by a conditional update that only
applies while stock remains (``sold + qty <= stock``, also a CHECK), then the order row is
written. Any refusal rolls the whole attempt back. Redis path: one Lua script checks the
window, the limit and the stock and takes the units; the same SQL statements persist them,
and a failure gives the units back. An ``attempt_id`` (unique per sale) turns a retried attempt
into the order it already made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qunyun.activation.common import check_offer, epoch_ms, require_member, upsert
from qunyun.activation.errors import Ended, LimitExceeded, NotStarted, SoldOut
from qunyun.activation.hot import RedisHotState, member_key
from qunyun.activation.models import FlashSale, FlashSaleBuyer, FlashSaleOrder
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
    """Buy ``qty`` units for the member; return the order (the same one for a retried attempt).

    Raise NotFound when the sale is not the tenant's or the member is not in its group,
    InvalidInput for qty < 1, NotStarted / Ended outside the window, LimitExceeded past the
    per-member limit and SoldOut when the stock left is short.
    """
    when = when or utcnow()
    sale = session.scalar(
        select(FlashSale).where(FlashSale.id == sale_id, FlashSale.tenant_id == tenant.id)
    )
    if sale is None:
        raise NotFound(f"没有秒杀 {sale_id}")
    require_member(session, tenant, sale.group_id, member_kind, member_id, f"秒杀 {sale_id}")
    if qty < 1:
        raise InvalidInput("购买数量至少为 1")
    if attempt_id is not None:
        earlier = _order_of_attempt(session, sale_id, attempt_id)
        if earlier is not None:
            return earlier
    if hot is None:
        _check_window(sale, when)
        if qty > sale.per_member_limit:
            raise LimitExceeded(f"每人限购 {sale.per_member_limit} 件")
        return _persist_order(session, tenant, sale, member_kind, member_id, qty, attempt_id, when)
    member = member_key(member_kind.value, member_id)
    claim = hot.buy(sale.id, member, qty, epoch_ms(when), attempt_id or "")
    if claim.status == "missing":
        load_sale_state(session, sale, hot, when)
        claim = hot.buy(sale.id, member, qty, epoch_ms(when), attempt_id or "")
    if claim.status == "replay":
        # the attempt took units in Redis but its order was never committed: commit it now
        return _persist_order(session, tenant, sale, member_kind, member_id, qty, attempt_id, when)
    if claim.status != "ok":
        _raise_refusal(sale, claim.status)
    try:
        return _persist_order(session, tenant, sale, member_kind, member_id, qty, attempt_id, when)
    except Exception:
        hot.unbuy(sale.id, member, qty, attempt_id or "")
        raise


def _order_of_attempt(session: Session, sale_id: int, attempt_id: str) -> FlashSaleOrder | None:
    return session.scalar(
        select(FlashSaleOrder).where(
            FlashSaleOrder.sale_id == sale_id, FlashSaleOrder.attempt_id == attempt_id
        )
    )


def _check_window(sale: FlashSale, when: datetime) -> None:
    if when < sale.starts_at:
        raise NotStarted(f"秒杀 {sale.id} 尚未开始")
    if when >= sale.ends_at:
        raise Ended(f"秒杀 {sale.id} 已结束")


def _raise_refusal(sale: FlashSale, status: str) -> None:
    if status == "not_started":
        raise NotStarted(f"秒杀 {sale.id} 尚未开始")
    if status == "ended":
        raise Ended(f"秒杀 {sale.id} 已结束")
    if status == "limit_exceeded":
        raise LimitExceeded(f"每人限购 {sale.per_member_limit} 件")
    if status == "sold_out":
        raise SoldOut(f"秒杀 {sale.id} 库存不足")
    raise Conflict(f"秒杀 {sale.id} 状态异常：{status}")


def _persist_order(
    session: Session,
    tenant: Tenant,
    sale: FlashSale,
    member_kind: ContactKind,
    member_id: str,
    qty: int,
    attempt_id: str | None,
    when: datetime,
) -> FlashSaleOrder:
    bought = session.execute(
        upsert(session, FlashSaleBuyer)
        .values(sale_id=sale.id, member_kind=member_kind.value, member_id=member_id, bought=qty)
        .on_conflict_do_update(
            index_elements=["sale_id", "member_kind", "member_id"],
            set_={"bought": FlashSaleBuyer.bought + qty},
            where=FlashSaleBuyer.bought + qty <= sale.per_member_limit,
        )
        .returning(FlashSaleBuyer.bought)
    ).first()
    if bought is None:
        raise LimitExceeded(f"每人限购 {sale.per_member_limit} 件")
    sold = session.execute(
        update(FlashSale)
        .where(
            FlashSale.id == sale.id,
            FlashSale.sold + qty <= FlashSale.stock,
            FlashSale.starts_at <= when,
            FlashSale.ends_at > when,
        )
        .values(sold=FlashSale.sold + qty)
        .returning(FlashSale.sold)
    ).first()
    if sold is None:
        _check_window(sale, when)
        raise SoldOut(f"秒杀 {sale.id} 库存不足")
    try:
        order_id = session.execute(
            insert(FlashSaleOrder)
            .values(
                tenant_id=tenant.id,
                sale_id=sale.id,
                member_kind=member_kind,
                member_id=member_id,
                qty=qty,
                amount_fen=qty * sale.price_fen,
                attempt_id=attempt_id,
                created_at=when,
            )
            .returning(FlashSaleOrder.id)
        ).scalar_one()
    except IntegrityError as error:
        raise Conflict(f"下单请求 {attempt_id} 正在处理，请稍后查看订单") from error
    return session.get_one(FlashSaleOrder, order_id)


def load_sale_state(
    session: Session, sale: FlashSale, hot: RedisHotState, when: datetime | None = None
) -> bool:
    """Load a sale's stock left and per-member counts into Redis as committed SQL has them."""
    bought = session.execute(
        select(FlashSaleBuyer.member_kind, FlashSaleBuyer.member_id, FlashSaleBuyer.bought).where(
            FlashSaleBuyer.sale_id == sale.id
        )
    ).all()
    sold = session.scalar(select(FlashSale.sold).where(FlashSale.id == sale.id)) or 0
    return hot.load_sale(
        sale.id,
        remaining=sale.stock - sold,
        limit=sale.per_member_limit,
        starts_ms=epoch_ms(sale.starts_at),
        ends_ms=epoch_ms(sale.ends_at),
        bought=[(member_key(row.member_kind.value, row.member_id), row.bought) for row in bought],
        now_ms=epoch_ms(when or utcnow()),
    )


def flash_sale_detail(session: Session, tenant: Tenant, sale_id: int) -> SaleView:
    """Return a sale with its orders (oldest first); raise NotFound when not the tenant's."""
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
