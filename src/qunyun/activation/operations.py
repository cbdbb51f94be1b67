"""What operators set up and read: red-packet rules, budget ledgers, packets, sales and deals.

The command line and the console show these; the hot paths (grab, order, join) stay in
``redpackets``, ``flashsales`` and ``groupbuys``. Reads take the tenant and, where a listing
can span groups, an optional group: scoping a console page to the actor's groups is the
adapter's call to ``org.access`` before it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ScalarSelect, case, delete, func, select
from sqlalchemy.orm import Session

from qunyun.activation.models import (
    ALL_GROUPS,
    FlashSale,
    FlashSaleOrder,
    GroupBuy,
    GroupBuyTeam,
    PacketStatus,
    RedPacket,
    RedPacketBudget,
    RedPacketRelay,
    RedPacketRule,
    TeamStatus,
)
from qunyun.activation.redpackets import Rule, budget_month, effective_rule
from qunyun.activation.schedule import parse_time
from qunyun.core.clock import utcnow
from qunyun.core.errors import InvalidInput, NotFound
from qunyun.groups.models import Group
from qunyun.org.models import Tenant

LISTED = 200
"""Rows a listing shows at most (newest first)."""


# --- rules ---------------------------------------------------------------------------------


def rules(session: Session, tenant: Tenant) -> list[Rule]:
    """Return the tenant's rules: its default (scope ``*``) first, then groups' own by id."""
    rows = session.scalars(
        select(RedPacketRule)
        .where(RedPacketRule.tenant_id == tenant.id)
        .order_by(RedPacketRule.scope != ALL_GROUPS, RedPacketRule.scope)
    ).all()
    return [
        Rule(
            monthly_budget_fen=row.monthly_budget_fen,
            min_total_fen=row.min_total_fen,
            max_total_fen=row.max_total_fen,
            min_count=row.min_count,
            max_count=row.max_count,
            window_start=row.window_start,
            window_end=row.window_end,
            expiry_minutes=row.expiry_minutes,
            scope=row.scope,
        )
        for row in rows
    ]


def is_own_rule(session: Session, tenant: Tenant, group_id: str) -> bool:
    """Return whether the group has a rule of its own (else the tenant's default applies)."""
    return (
        session.scalar(
            select(RedPacketRule.scope).where(
                RedPacketRule.tenant_id == tenant.id, RedPacketRule.scope == group_id
            )
        )
        is not None
    )


def do_clear_rule(session: Session, tenant: Tenant, scope: str) -> Rule:
    """Remove the rule of ``scope`` (a group, or ``*``); return the rule in force after.

    Raise NotFound when that scope has no rule of its own.
    """
    removed = session.execute(
        delete(RedPacketRule)
        .where(RedPacketRule.tenant_id == tenant.id, RedPacketRule.scope == scope)
        .returning(RedPacketRule.scope)
    ).first()
    if removed is None:
        what = "租户默认规则" if scope == ALL_GROUPS else f"社群 {scope} 自己的规则"
        raise NotFound(f"没有{what}")
    return effective_rule(session, tenant, scope)


def parse_window(text: str) -> tuple[str, str]:
    """Return the start and end of a window written ``08:00-22:00`` (``00:00-00:00``: all day).

    Raise InvalidInput naming what is wrong.
    """
    parts = text.replace("–", "-").replace("~", "-").split("-")
    if len(parts) != 2:
        raise InvalidInput(f"时段应为 HH:MM-HH:MM，如 08:00-22:00（收到 {text!r}）")
    try:
        start, end = (parse_time(part) for part in parts)
    except ValueError as error:
        raise InvalidInput(f"时段 {text!r} 有误：{error}") from error
    return start.strftime("%H:%M"), end.strftime("%H:%M")


# --- budget ledger -------------------------------------------------------------------------


class LedgerKind(StrEnum):
    """What moved a group's month budget."""

    PACKET = "packet"
    RELAY = "relay"
    REFUND = "refund"


@dataclass(frozen=True)
class LedgerEntry:
    """One movement of a budget: fen spent (positive) or returned (negative)."""

    at: datetime
    kind: LedgerKind
    packet_id: int | None
    relay_id: int | None
    amount_fen: int


@dataclass(frozen=True)
class BudgetUse:
    """A group's budget for one local month: the budget, what is spent and what is left."""

    group_id: str
    month: str
    budget_fen: int
    spent_fen: int

    @property
    def remaining_fen(self) -> int:
        """Return the fen left to send this month (negative after the budget was lowered)."""
        return self.budget_fen - self.spent_fen


@dataclass(frozen=True)
class BudgetLedger:
    """A group's month budget and every movement of it, oldest first; entries sum to spent."""

    use: BudgetUse
    entries: list[LedgerEntry]


def check_month(text: str) -> str:
    """Return a local month ``YYYY-MM``; raise InvalidInput for anything else."""
    year, _, month = text.strip().partition("-")
    if not (len(year) == 4 and year.isdigit() and len(month) == 2 and month.isdigit()) or not (
        1 <= int(month) <= 12
    ):
        raise InvalidInput(f"月份应为 YYYY-MM，如 2026-12（收到 {text!r}）")
    return f"{year}-{month}"


def _budget_of(
    session: Session, tenant: Tenant, group_id: str, month: str, recorded: int | None
) -> int:
    """Return the month's budget: the rule in force for this month, else the one recorded."""
    if recorded is None or month == budget_month(utcnow(), tenant.timezone):
        return effective_rule(session, tenant, group_id).monthly_budget_fen
    return recorded


def budget_use(session: Session, tenant: Tenant, group_id: str, month: str) -> BudgetUse:
    """Return a group's budget use in a local month; raise NotFound for an unknown group."""
    if session.get(Group, (tenant.id, group_id)) is None:
        raise NotFound(f"没有社群 {group_id}")
    row = session.get(RedPacketBudget, (tenant.id, group_id, month))
    return BudgetUse(
        group_id=group_id,
        month=month,
        budget_fen=_budget_of(session, tenant, group_id, month, row.budget_fen if row else None),
        spent_fen=row.spent_fen if row else 0,
    )


def budget_uses(session: Session, tenant: Tenant, month: str) -> list[BudgetUse]:
    """Return the budget use of every group that spent from its budget in a month, by group."""
    rows = session.scalars(
        select(RedPacketBudget)
        .where(RedPacketBudget.tenant_id == tenant.id, RedPacketBudget.month == month)
        .order_by(RedPacketBudget.group_id)
    ).all()
    return [
        BudgetUse(
            group_id=row.group_id,
            month=month,
            budget_fen=_budget_of(session, tenant, row.group_id, month, row.budget_fen),
            spent_fen=row.spent_fen,
        )
        for row in rows
    ]


def budget_ledger(session: Session, tenant: Tenant, group_id: str, month: str) -> BudgetLedger:
    """Return a group's budget for a month with the packets and relays it paid and refunds.

    A packet is paid when sent and returns what was not grabbed when it expires; a relay pays
    every round when it starts and returns unsent rounds and ungrabbed fen when it ends.
    """
    use = budget_use(session, tenant, group_id, month)
    entries: list[LedgerEntry] = []
    for packet in session.execute(
        select(
            RedPacket.id, RedPacket.total_fen, RedPacket.refunded_fen,
            RedPacket.created_at, RedPacket.closed_at,
        ).where(
            RedPacket.tenant_id == tenant.id,
            RedPacket.group_id == group_id,
            RedPacket.budget_month == month,
        )
    ):  # fmt: skip
        entries.append(
            LedgerEntry(packet.created_at, LedgerKind.PACKET, packet.id, None, packet.total_fen)
        )
        if packet.refunded_fen and packet.closed_at is not None:
            entries.append(
                LedgerEntry(
                    packet.closed_at, LedgerKind.REFUND, packet.id, None, -packet.refunded_fen
                )
            )
    for relay in session.execute(
        select(
            RedPacketRelay.id, RedPacketRelay.total_fen, RedPacketRelay.rounds,
            RedPacketRelay.refunded_fen, RedPacketRelay.created_at, RedPacketRelay.closed_at,
        ).where(
            RedPacketRelay.tenant_id == tenant.id,
            RedPacketRelay.group_id == group_id,
            RedPacketRelay.budget_month == month,
        )
    ):  # fmt: skip
        entries.append(
            LedgerEntry(
                relay.created_at, LedgerKind.RELAY, None, relay.id, relay.total_fen * relay.rounds
            )
        )
        if relay.refunded_fen and relay.closed_at is not None:
            entries.append(
                LedgerEntry(relay.closed_at, LedgerKind.REFUND, None, relay.id, -relay.refunded_fen)
            )
    entries.sort(key=lambda entry: (entry.at, entry.amount_fen < 0, entry.packet_id or 0))
    return BudgetLedger(use=use, entries=entries)


# --- listings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PacketRow:
    """A sent red packet in a listing."""

    id: int
    group_id: str
    sender_id: str
    total_fen: int
    count: int
    grabbed_count: int
    grabbed_fen: int
    refunded_fen: int
    status: PacketStatus
    created_at: datetime
    expires_at: datetime


def red_packets(
    session: Session, tenant: Tenant, group_id: str | None = None, limit: int = LISTED
) -> list[PacketRow]:
    """Return the tenant's (or one group's) latest red packets, newest first."""
    query = select(RedPacket).where(RedPacket.tenant_id == tenant.id)
    if group_id is not None:
        query = query.where(RedPacket.group_id == group_id)
    return [
        PacketRow(
            id=packet.id,
            group_id=packet.group_id,
            sender_id=packet.sender_id,
            total_fen=packet.total_fen,
            count=packet.count,
            grabbed_count=packet.grabbed_count,
            grabbed_fen=packet.grabbed_fen,
            refunded_fen=packet.refunded_fen,
            status=packet.status,
            created_at=packet.created_at,
            expires_at=packet.expires_at,
        )
        for packet in session.scalars(query.order_by(RedPacket.id.desc()).limit(limit))
    ]


class OfferStatus(StrEnum):
    """Where a sale or deal stands at a moment: before, in or after its window."""

    UPCOMING = "upcoming"
    LIVE = "live"
    ENDED = "ended"


def offer_status(starts_at: datetime, ends_at: datetime, when: datetime) -> OfferStatus:
    """Return whether a window ``[starts_at, ends_at)`` is upcoming, live or ended at ``when``."""
    if when < starts_at:
        return OfferStatus.UPCOMING
    return OfferStatus.LIVE if when < ends_at else OfferStatus.ENDED


@dataclass(frozen=True)
class SaleRow:
    """A flash sale in a listing, with its orders counted."""

    id: int
    group_id: str
    sku: str
    title: str
    price_fen: int
    stock: int
    sold: int
    per_member_limit: int
    starts_at: datetime
    ends_at: datetime
    orders: int
    status: OfferStatus


def flash_sales(
    session: Session,
    tenant: Tenant,
    group_id: str | None = None,
    *,
    when: datetime | None = None,
    limit: int = LISTED,
) -> list[SaleRow]:
    """Return the tenant's (or one group's) latest flash sales, newest first."""
    when = when or utcnow()
    orders = (
        select(func.count(FlashSaleOrder.id))
        .where(FlashSaleOrder.sale_id == FlashSale.id)
        .scalar_subquery()
    )
    query = select(FlashSale, orders).where(FlashSale.tenant_id == tenant.id)
    if group_id is not None:
        query = query.where(FlashSale.group_id == group_id)
    return [
        SaleRow(
            id=sale.id,
            group_id=sale.group_id,
            sku=sale.sku,
            title=sale.title,
            price_fen=sale.price_fen,
            stock=sale.stock,
            sold=sale.sold,
            per_member_limit=sale.per_member_limit,
            starts_at=sale.starts_at,
            ends_at=sale.ends_at,
            orders=int(count),
            status=offer_status(sale.starts_at, sale.ends_at, when),
        )
        for sale, count in session.execute(query.order_by(FlashSale.id.desc()).limit(limit))
    ]


@dataclass(frozen=True)
class DealRow:
    """A 拼团 deal in a listing, with its teams counted by status."""

    id: int
    group_id: str
    sku: str
    title: str
    price_fen: int
    team_size: int
    team_minutes: int
    stock: int
    reserved: int
    sold: int
    starts_at: datetime
    ends_at: datetime
    open_teams: int
    complete_teams: int
    status: OfferStatus


def group_buys(
    session: Session,
    tenant: Tenant,
    group_id: str | None = None,
    *,
    when: datetime | None = None,
    limit: int = LISTED,
) -> list[DealRow]:
    """Return the tenant's (or one group's) latest 拼团 deals, newest first."""
    when = when or utcnow()

    def teams(status: TeamStatus) -> ScalarSelect[int]:
        return (
            select(func.coalesce(func.sum(case((GroupBuyTeam.status == status, 1), else_=0)), 0))
            .where(GroupBuyTeam.deal_id == GroupBuy.id)
            .scalar_subquery()
        )

    query = select(GroupBuy, teams(TeamStatus.OPEN), teams(TeamStatus.COMPLETE)).where(
        GroupBuy.tenant_id == tenant.id
    )
    if group_id is not None:
        query = query.where(GroupBuy.group_id == group_id)
    return [
        DealRow(
            id=deal.id,
            group_id=deal.group_id,
            sku=deal.sku,
            title=deal.title,
            price_fen=deal.price_fen,
            team_size=deal.team_size,
            team_minutes=deal.team_minutes,
            stock=deal.stock,
            reserved=deal.reserved,
            sold=deal.sold,
            starts_at=deal.starts_at,
            ends_at=deal.ends_at,
            open_teams=int(open_count),
            complete_teams=int(complete_count),
            status=offer_status(deal.starts_at, deal.ends_at, when),
        )
        for deal, open_count, complete_count in session.execute(
            query.order_by(GroupBuy.id.desc()).limit(limit)
        )
    ]
