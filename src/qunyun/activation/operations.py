"""What operators set up and read: red-packet rules, budget ledgers, packets, relays, offers.

The command line and the console show these; the hot paths (grab, order, join) stay in
``redpackets``, ``flashsales`` and ``groupbuys``. Reads take the tenant and, where a listing
can span groups, an optional group: scoping a console page to the actor's groups is the
adapter's call to ``org.access`` before it reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ScalarSelect, case, delete, func, select
from sqlalchemy.orm import Session

from qunyun.activation.common import in_session
from qunyun.activation.hot import RedisHotState
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
    RedPacketShare,
    RelayStatus,
    TeamStatus,
)
from qunyun.activation.redpackets import (
    Rule,
    budget_month,
    do_set_rule,
    effective_rule,
    tenant_relay,
)
from qunyun.activation.schedule import parse_time
from qunyun.channel.models import ContactKind
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


def do_change_rule(
    session: Session, tenant: Tenant, scope: str, changes: Mapping[str, int | str | None]
) -> Rule:
    """Set the rule of ``scope`` to the one in force there with ``changes`` (None: kept).

    ``changes`` are fields of ``Rule``; a group without a rule of its own starts from the
    tenant's default. Raise InvalidInput for a contradictory rule, NotFound for an unknown group.
    """
    given: dict[str, Any] = {field: value for field, value in changes.items() if value is not None}
    rule = dataclasses.replace(effective_rule(session, tenant, scope), scope=scope, **given)
    return do_set_rule(session, tenant, rule)


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

    @property
    def spent_share(self) -> float:
        """Return the share of the budget spent, 0 to 1 (1 when there is no budget at all)."""
        return min(self.spent_fen / self.budget_fen, 1.0) if self.budget_fen > 0 else 1.0


@dataclass(frozen=True)
class BudgetLedger:
    """A group's month budget and every movement of it, oldest first; entries sum to spent."""

    use: BudgetUse
    entries: list[LedgerEntry]


def current_month(tenant: Tenant) -> str:
    """Return the tenant's local month now (``YYYY-MM``): the budget that packets spend."""
    return budget_month(utcnow(), tenant.timezone)


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


@dataclass(frozen=True)
class RelayRow:
    """A 红包接龙 relay: its rounds, where it stands, and who is asked to send the next round."""

    id: int
    group_id: str
    total_fen: int
    """The total of every round's packet."""
    count: int
    rounds: int
    rounds_sent: int
    status: RelayStatus
    next_sender_kind: ContactKind | None
    next_sender_id: str | None
    """The best-luck grabber of the last finished round, asked to send the next one."""
    refunded_fen: int
    created_at: datetime
    closed_at: datetime | None


def _relay_row(relay: RedPacketRelay) -> RelayRow:
    return RelayRow(
        id=relay.id,
        group_id=relay.group_id,
        total_fen=relay.total_fen,
        count=relay.count,
        rounds=relay.rounds,
        rounds_sent=relay.rounds_sent,
        status=relay.status,
        next_sender_kind=relay.next_sender_kind,
        next_sender_id=relay.next_sender_id,
        refunded_fen=relay.refunded_fen,
        created_at=relay.created_at,
        closed_at=relay.closed_at,
    )


def relays(
    session: Session, tenant: Tenant, group_id: str | None = None, limit: int = LISTED
) -> list[RelayRow]:
    """Return the tenant's (or one group's) latest relays, newest first."""
    query = select(RedPacketRelay).where(RedPacketRelay.tenant_id == tenant.id)
    if group_id is not None:
        query = query.where(RedPacketRelay.group_id == group_id)
    found = session.scalars(query.order_by(RedPacketRelay.id.desc()).limit(limit))
    return [_relay_row(relay) for relay in found]


@dataclass(frozen=True)
class RelayRound:
    """One round of a relay: its packet, and the best-luck grabber once every share is taken."""

    number: int
    packet_id: int
    sender_id: str
    total_fen: int
    count: int
    grabbed_count: int
    grabbed_fen: int
    status: PacketStatus
    created_at: datetime
    best_luck_id: str | None
    best_luck_fen: int | None


@dataclass(frozen=True)
class RelayView:
    """A relay with its rounds, the first first."""

    relay: RelayRow
    rounds: list[RelayRound]

    @property
    def group_id(self) -> str:
        """Return the relay's group."""
        return self.relay.group_id


def relay_detail(
    session: Session, tenant: Tenant, relay_id: int, hot: RedisHotState | None = None
) -> RelayView:
    """Return a relay with its rounds; raise NotFound when it is not the tenant's.

    With ``hot`` the grabs Redis acknowledged and SQL has not applied yet are applied first.
    """
    if hot is not None:
        from qunyun.activation import persist

        persist.catch_up(in_session(session), hot)
    relay = tenant_relay(session, tenant, relay_id)
    best = (
        select(RedPacketShare.packet_id, RedPacketShare.member_id, RedPacketShare.amount_fen)
        .where(RedPacketShare.is_best_luck)
        .subquery()
    )
    found = session.execute(
        select(RedPacket, best.c.member_id, best.c.amount_fen)
        .outerjoin(best, best.c.packet_id == RedPacket.id)
        .where(RedPacket.relay_id == relay_id)
        .order_by(RedPacket.relay_round)
    )
    rounds = [
        RelayRound(
            number=packet.relay_round or 0,
            packet_id=packet.id,
            sender_id=packet.sender_id,
            total_fen=packet.total_fen,
            count=packet.count,
            grabbed_count=packet.grabbed_count,
            grabbed_fen=packet.grabbed_fen,
            status=packet.status,
            created_at=packet.created_at,
            best_luck_id=member if packet.status is PacketStatus.FINISHED else None,
            best_luck_fen=amount if packet.status is PacketStatus.FINISHED else None,
        )
        for packet, member, amount in found
    ]
    return RelayView(relay=_relay_row(relay), rounds=rounds)


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
class SaleFigures:
    """What a flash sale's listing shows beyond an offer's: the per-member limit and orders."""

    per_member_limit: int
    orders: int


@dataclass(frozen=True)
class DealFigures:
    """What a 拼团 deal's listing shows beyond an offer's: teams, their counts, units reserved."""

    team_size: int
    team_minutes: int
    reserved: int
    open_teams: int
    complete_teams: int


Figures = TypeVar("Figures", SaleFigures, DealFigures)


@dataclass(frozen=True)
class OfferRow(Generic[Figures]):
    """A flash sale or 拼团 deal in a listing: what both kinds have, and the kind's figures."""

    id: int
    group_id: str
    sku: str
    title: str
    price_fen: int
    stock: int
    sold: int
    starts_at: datetime
    ends_at: datetime
    status: OfferStatus
    figures: Figures


def _offers(
    session: Session,
    tenant: Tenant,
    offer: type[FlashSale] | type[GroupBuy],
    counts: tuple[ScalarSelect[int], ...],
    figures: Callable[..., Figures],
    group_id: str | None,
    when: datetime | None,
    limit: int,
) -> list[OfferRow[Figures]]:
    """Return the latest offers of one kind with ``figures(offer, *counts)`` of each."""
    when = when or utcnow()
    query = select(offer, *counts).where(offer.tenant_id == tenant.id)
    if group_id is not None:
        query = query.where(offer.group_id == group_id)
    found: list[OfferRow[Figures]] = []
    for entity, *counted in session.execute(query.order_by(offer.id.desc()).limit(limit)):
        sale_or_deal = cast(FlashSale | GroupBuy, entity)
        found.append(
            OfferRow(
                id=sale_or_deal.id,
                group_id=sale_or_deal.group_id,
                sku=sale_or_deal.sku,
                title=sale_or_deal.title,
                price_fen=sale_or_deal.price_fen,
                stock=sale_or_deal.stock,
                sold=sale_or_deal.sold,
                starts_at=sale_or_deal.starts_at,
                ends_at=sale_or_deal.ends_at,
                status=offer_status(sale_or_deal.starts_at, sale_or_deal.ends_at, when),
                figures=figures(sale_or_deal, *(int(count) for count in counted)),
            )
        )
    return found


def flash_sales(
    session: Session,
    tenant: Tenant,
    group_id: str | None = None,
    *,
    when: datetime | None = None,
    limit: int = LISTED,
) -> list[OfferRow[SaleFigures]]:
    """Return the tenant's (or one group's) latest flash sales, newest first."""
    orders = (
        select(func.count(FlashSaleOrder.id))
        .where(FlashSaleOrder.sale_id == FlashSale.id)
        .scalar_subquery()
    )
    return _offers(
        session, tenant, FlashSale, (orders,),
        lambda sale, orders: SaleFigures(sale.per_member_limit, orders),
        group_id, when, limit,
    )  # fmt: skip


def group_buys(
    session: Session,
    tenant: Tenant,
    group_id: str | None = None,
    *,
    when: datetime | None = None,
    limit: int = LISTED,
) -> list[OfferRow[DealFigures]]:
    """Return the tenant's (or one group's) latest 拼团 deals, newest first."""

    def teams(status: TeamStatus) -> ScalarSelect[int]:
        return (
            select(func.coalesce(func.sum(case((GroupBuyTeam.status == status, 1), else_=0)), 0))
            .where(GroupBuyTeam.deal_id == GroupBuy.id)
            .scalar_subquery()
        )

    return _offers(
        session, tenant, GroupBuy, (teams(TeamStatus.OPEN), teams(TeamStatus.COMPLETE)),
        lambda deal, open_teams, complete_teams: DealFigures(
            deal.team_size, deal.team_minutes, deal.reserved, open_teams, complete_teams
        ),
        group_id, when, limit,
    )  # fmt: skip
