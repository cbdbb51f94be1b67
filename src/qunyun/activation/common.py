"""Helpers shared by the activation actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind
from qunyun.core.errors import InvalidInput, NotFound
from qunyun.groups.queries import is_current_member
from qunyun.org.models import Tenant


def upsert(session: Session, model: type[Any]) -> Any:
    """Return the dialect's INSERT into ``model``'s table, which has ``on_conflict_do_*``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def epoch_ms(moment: datetime) -> int:
    """Return an aware moment as milliseconds since the epoch (Redis scripts compare these)."""
    return int(moment.timestamp() * 1000)


def require_member(
    session: Session,
    tenant: Tenant,
    group_id: str,
    member_kind: ContactKind,
    member_id: str,
    what: str,
) -> None:
    """Raise NotFound unless the member is in the group now: to others ``what`` does not exist.

    The message is the one of a missing ``what``, so that it tells an outsider nothing (not
    even the group).
    """
    if not is_current_member(session, tenant, group_id, member_kind, member_id):
        raise NotFound(f"没有{what}")


def check_offer(
    sku: str, title: str, price_fen: int, stock: int, starts_at: datetime, ends_at: datetime
) -> None:
    """Raise InvalidInput naming the field of a sale or deal that cannot be used, and why."""
    if not sku.strip() or len(sku) > 64:
        raise InvalidInput(f"商品编码 sku 应为 1–64 个字符（收到 {sku!r}）")
    if not title.strip() or len(title) > 200:
        raise InvalidInput(f"标题 title 应为 1–200 个字符（收到 {len(title)} 个）")
    if price_fen < 0:
        raise InvalidInput(f"价格 price_fen 不能为负（收到 {price_fen}）")
    if stock < 1:
        raise InvalidInput(f"库存 stock 至少为 1（收到 {stock}）")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("开始和结束时间需带时区")
    if starts_at >= ends_at:
        raise InvalidInput("结束时间 ends_at 应晚于开始时间 starts_at")
