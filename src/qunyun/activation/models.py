"""Tables of activation: red packets, relays, lucky draws, flash sales, group-buys, 接龙 lists.

Counters that a crowd updates at once (a packet's grabbed count, a sale's sold units, a team's
joined members) are columns changed only by conditional ``UPDATE … WHERE … RETURNING``;
CHECK and UNIQUE constraints back every invariant, so that even a wrong action cannot oversell
or pay a share twice.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.db import Base, UTCDateTime
from qunyun.core.types import ExternalId, enum_column

ALL_GROUPS = "*"
"""The ``scope`` of a tenant's default red-packet rule (a group id scopes a rule to one group)."""


def _group_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "group_id"],
        ["groups.tenant_id", "groups.group_id"],
        ondelete="CASCADE",
        name=f"fk_{table}_group",
    )


def _tenant() -> Mapped[int]:
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))


# --- red packets ---------------------------------------------------------------------------


class RedPacketRule(Base):
    """How red packets may be sent: a tenant default (scope ``*``) or one group's own rule."""

    __tablename__ = "red_packet_rules"
    __table_args__ = (
        CheckConstraint("monthly_budget_fen >= 0", name="budget"),
        CheckConstraint("1 <= min_total_fen AND min_total_fen <= max_total_fen", name="totals"),
        CheckConstraint("1 <= min_count AND min_count <= max_count", name="counts"),
        CheckConstraint("expiry_minutes >= 1", name="expiry"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    monthly_budget_fen: Mapped[int] = mapped_column(BigInteger)
    min_total_fen: Mapped[int] = mapped_column(BigInteger)
    max_total_fen: Mapped[int] = mapped_column(BigInteger)
    min_count: Mapped[int] = mapped_column(Integer)
    max_count: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[str] = mapped_column(String(5))
    """Local ``HH:MM`` from which packets may be sent; ``window_end`` is exclusive."""
    window_end: Mapped[str] = mapped_column(String(5))
    expiry_minutes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RedPacketBudget(Base):
    """A group's red-packet budget for one local month; ``spent_fen`` only moves conditionally."""

    __tablename__ = "red_packet_budgets"
    __table_args__ = (
        _group_fk("red_packet_budgets"),
        CheckConstraint("0 <= spent_fen AND spent_fen <= budget_fen", name="spent"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    spent_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class PacketStatus(StrEnum):
    """Where a red packet stands."""

    OPEN = "open"
    FINISHED = "finished"
    EXPIRED = "expired"


class RedPacket(Base):
    """A red packet sent to a group; its shares are drawn at creation (see ``split``)."""

    __tablename__ = "red_packets"
    __table_args__ = (
        _group_fk("red_packets"),
        CheckConstraint("count >= 1 AND total_fen >= count", name="amounts"),
        CheckConstraint("0 <= grabbed_count AND grabbed_count <= count", name="grabbed_count"),
        CheckConstraint("0 <= grabbed_fen AND grabbed_fen <= total_fen", name="grabbed_fen"),
        Index("ix_red_packets_status", "status", "expires_at"),
        Index("ix_red_packets_group", "tenant_id", "group_id", "created_at"),
        {"sqlite_autoincrement": True},  # ids name Redis keys: never reuse one
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    group_id: Mapped[str] = mapped_column(ExternalId())
    sender_kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind, "sender_kind"))
    sender_id: Mapped[str] = mapped_column(ExternalId())
    total_fen: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    status: Mapped[PacketStatus] = mapped_column(enum_column(PacketStatus, "packet_status"))
    grabbed_count: Mapped[int] = mapped_column(Integer, default=0)
    grabbed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    budget_month: Mapped[str | None] = mapped_column(String(7))
    """The month whose budget paid it (None when a relay's reservation paid it)."""
    relay_id: Mapped[int | None] = mapped_column(ForeignKey("red_packet_relays.id"))
    relay_round: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def remaining_fen(self) -> int:
        """Return the fen not grabbed (and, once expired, returned to the budget)."""
        return self.total_fen - self.grabbed_fen


class RedPacketShare(Base):
    """One position of a packet: its amount, and who grabbed it (at most once per member)."""

    __tablename__ = "red_packet_shares"
    __table_args__ = (
        UniqueConstraint("packet_id", "member_kind", "member_id"),
        CheckConstraint("amount_fen >= 1", name="amount"),
    )

    packet_id: Mapped[int] = mapped_column(
        ForeignKey("red_packets.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    is_best_luck: Mapped[bool] = mapped_column(Boolean, default=False)
    member_kind: Mapped[ContactKind | None] = mapped_column(
        enum_column(ContactKind, "grabber_kind")
    )
    member_id: Mapped[str | None] = mapped_column(ExternalId())
    grabbed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RelayStatus(StrEnum):
    """Where a 红包接龙 relay stands."""

    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"


class RedPacketRelay(Base):
    """红包接龙: the best-luck grabber of each round is asked to send the next, for N rounds.

    The whole relay is paid from the group's budget when it starts (``rounds × total_fen``
    reserved); rounds never sent and fen never grabbed go back when it ends.
    """

    __tablename__ = "red_packet_relays"
    __table_args__ = (
        _group_fk("red_packet_relays"),
        CheckConstraint(
            "rounds >= 1 AND 0 <= rounds_sent AND rounds_sent <= rounds", name="rounds"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    group_id: Mapped[str] = mapped_column(ExternalId())
    total_fen: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    rounds: Mapped[int] = mapped_column(Integer)
    rounds_sent: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[RelayStatus] = mapped_column(enum_column(RelayStatus, "relay_status"))
    budget_month: Mapped[str] = mapped_column(String(7))
    next_sender_kind: Mapped[ContactKind | None] = mapped_column(
        enum_column(ContactKind, "next_sender_kind")
    )
    next_sender_id: Mapped[str | None] = mapped_column(ExternalId())
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ActivationEvent(Base):
    """Outbox of events for the lake (``red_packet_send``, ``red_packet_grab``, ``order``).

    Written in the transaction of the change it records; ``event_id`` is derived from what
    happened (packet and position, or the order: ``order_events``), so a re-export is
    idempotent downstream.
    """

    __tablename__ = "activation_events"
    __table_args__ = (Index("ix_activation_events_pending", "tenant_id", "exported_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    tenant_id: Mapped[int] = _tenant()
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(40))
    group_id: Mapped[str] = mapped_column(ExternalId())
    member_kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind, "event_member_kind"))
    member_id: Mapped[str] = mapped_column(ExternalId())
    red_packet_id: Mapped[int | None] = mapped_column(Integer)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    order_id: Mapped[str | None] = mapped_column(String(128))
    """The lake's ``order_id`` of an ``order`` event (``order_events``: what kind of order)."""


# --- lucky draws ---------------------------------------------------------------------------


class DrawStatus(StrEnum):
    """Where a lucky draw stands."""

    OPEN = "open"
    DRAWN = "drawn"


class LuckyDraw(Base):
    """A draw whose seed is committed (``seed_hash``) before entries close, revealed after."""

    __tablename__ = "lucky_draws"
    __table_args__ = (_group_fk("lucky_draws"), CheckConstraint("winners >= 1", name="winners"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    group_id: Mapped[str] = mapped_column(ExternalId())
    title: Mapped[str] = mapped_column(String(200))
    winners: Mapped[int] = mapped_column(Integer)
    seed_hash: Mapped[str] = mapped_column(String(64))
    seed: Mapped[str] = mapped_column(String(64))
    """Secret until drawn; only ``seed_hash`` may be shown before (queries enforce it)."""
    status: Mapped[DrawStatus] = mapped_column(enum_column(DrawStatus, "draw_status"))
    entries_close_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entries_open_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When members may start to enter (None: from the moment it was opened)."""


class LuckyDrawEntry(Base):
    """One member's entry in a draw (once each); ``rank`` is set when drawn (1 = first winner)."""

    __tablename__ = "lucky_draw_entries"
    __table_args__ = (
        Index("ix_lucky_draw_entries_draw_id_ticket", "draw_id", "ticket", unique=True),
    )

    draw_id: Mapped[int] = mapped_column(
        ForeignKey("lucky_draws.id", ondelete="CASCADE"), primary_key=True
    )
    member_kind: Mapped[ContactKind] = mapped_column(
        enum_column(ContactKind, "entrant_kind"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rank: Mapped[int | None] = mapped_column(Integer)
    ticket: Mapped[str | None] = mapped_column(String(16))
    """The entry's public ticket: what the verification data lists instead of the member."""


class LuckyDrawPrize(Base):
    """A prize of a draw: the winner of ``rank`` (1 = first drawn) receives it."""

    __tablename__ = "lucky_draw_prizes"
    __table_args__ = (CheckConstraint("rank >= 1", name="rank"),)

    draw_id: Mapped[int] = mapped_column(
        ForeignKey("lucky_draws.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(200))


# --- flash sales ---------------------------------------------------------------------------


class FlashSale(Base):
    """秒杀: a SKU at a price with limited stock in a time window, limited per member."""

    __tablename__ = "flash_sales"
    __table_args__ = (
        _group_fk("flash_sales"),
        CheckConstraint("0 <= sold AND sold <= stock", name="stock"),
        CheckConstraint("per_member_limit >= 1", name="limit"),
        CheckConstraint("price_fen >= 0", name="price"),
        CheckConstraint("starts_at < ends_at", name="window"),
        {"sqlite_autoincrement": True},  # ids name Redis keys: never reuse one
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    group_id: Mapped[str] = mapped_column(ExternalId())
    sku: Mapped[str] = mapped_column(ExternalId())
    title: Mapped[str] = mapped_column(String(200))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    per_member_limit: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FlashSaleBuyer(Base):
    """Units one member bought in a sale; raised only while it stays within the limit."""

    __tablename__ = "flash_sale_buyers"

    sale_id: Mapped[int] = mapped_column(
        ForeignKey("flash_sales.id", ondelete="CASCADE"), primary_key=True
    )
    member_kind: Mapped[ContactKind] = mapped_column(
        enum_column(ContactKind, "buyer_kind"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    bought: Mapped[int] = mapped_column(Integer)


class FlashSaleOrder(Base):
    """One successful attempt; ``attempt_id`` (unique per sale) makes a retried attempt a no-op."""

    __tablename__ = "flash_sale_orders"
    __table_args__ = (
        UniqueConstraint("sale_id", "attempt_id"),
        Index("ix_flash_sale_orders_member", "sale_id", "member_kind", "member_id"),
        CheckConstraint("qty >= 1", name="qty"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    sale_id: Mapped[int] = mapped_column(ForeignKey("flash_sales.id", ondelete="CASCADE"))
    member_kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind, "order_member_kind"))
    member_id: Mapped[str] = mapped_column(ExternalId())
    qty: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    attempt_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- group-buys (拼团) ---------------------------------------------------------------------


class GroupBuy(Base):
    """A 拼团 deal: teams of ``team_size`` members; each joiner reserves one unit of stock."""

    __tablename__ = "group_buys"
    __table_args__ = (
        _group_fk("group_buys"),
        CheckConstraint("team_size >= 2", name="team_size"),
        CheckConstraint("0 <= reserved AND 0 <= sold AND reserved + sold <= stock", name="stock"),
        CheckConstraint("starts_at < ends_at", name="window"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    group_id: Mapped[str] = mapped_column(ExternalId())
    sku: Mapped[str] = mapped_column(ExternalId())
    title: Mapped[str] = mapped_column(String(200))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    team_size: Mapped[int] = mapped_column(Integer)
    team_minutes: Mapped[int] = mapped_column(Integer)
    """How long a team has, from its opening, to fill up."""
    stock: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TeamStatus(StrEnum):
    """Where a 拼团 team stands."""

    OPEN = "open"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


class GroupBuyTeam(Base):
    """A team a leader opened; complete at ``team_size`` members before ``deadline``."""

    __tablename__ = "group_buy_teams"
    __table_args__ = (
        CheckConstraint("1 <= joined", name="joined"),
        Index("ix_group_buy_teams_open", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    deal_id: Mapped[int] = mapped_column(ForeignKey("group_buys.id", ondelete="CASCADE"))
    leader_kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind, "leader_kind"))
    leader_id: Mapped[str] = mapped_column(ExternalId())
    status: Mapped[TeamStatus] = mapped_column(enum_column(TeamStatus, "team_status"))
    joined: Mapped[int] = mapped_column(Integer, default=1)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GroupBuyMember(Base):
    """A member of a team (the leader included); one team per member and deal.

    When the team completes these rows are its orders; when it is cancelled they are released.
    """

    __tablename__ = "group_buy_members"
    __table_args__ = (UniqueConstraint("deal_id", "member_kind", "member_id"),)

    team_id: Mapped[int] = mapped_column(
        ForeignKey("group_buy_teams.id", ondelete="CASCADE"), primary_key=True
    )
    member_kind: Mapped[ContactKind] = mapped_column(
        enum_column(ContactKind, "team_member_kind"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("group_buys.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = _tenant()
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- 接龙 order collection -----------------------------------------------------------------


class OrderList(Base):
    """Today's 接龙 list of a group, opened by its partner (团长); one per group and local day."""

    __tablename__ = "order_lists"
    __table_args__ = (
        _group_fk("order_lists"),
        UniqueConstraint("tenant_id", "group_id", "list_date"),
        CheckConstraint("0 <= commission_bp AND commission_bp <= 10000", name="commission"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    group_id: Mapped[str] = mapped_column(ExternalId())
    list_date: Mapped[date] = mapped_column(Date)
    partner_kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind, "partner_kind"))
    partner_id: Mapped[str] = mapped_column(ExternalId())
    commission_bp: Mapped[int] = mapped_column(Integer)
    """The partner's commission in basis points of the orders' amount (500 = 5%)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OrderListItem(Base):
    """An item offered on a list: its price and the store or warehouse that supplies it."""

    __tablename__ = "order_list_items"
    __table_args__ = (CheckConstraint("price_fen >= 0", name="price"),)

    list_id: Mapped[int] = mapped_column(
        ForeignKey("order_lists.id", ondelete="CASCADE"), primary_key=True
    )
    item_code: Mapped[str] = mapped_column(ExternalId(), primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(200))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    supplier_id: Mapped[str] = mapped_column(ExternalId())


class OrderLine(Base):
    """A member's line on a list; a cutoff locks it (``cutoff_id``) into an order."""

    __tablename__ = "order_lines"
    __table_args__ = (
        ForeignKeyConstraint(
            ["list_id", "item_code"],
            ["order_list_items.list_id", "order_list_items.item_code"],
            ondelete="CASCADE",
        ),
        Index("ix_order_lines_open", "tenant_id", "cutoff_id", "added_at"),
        CheckConstraint("qty >= 1", name="qty"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    list_id: Mapped[int] = mapped_column(ForeignKey("order_lists.id", ondelete="CASCADE"))
    member_kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind, "line_member_kind"))
    member_id: Mapped[str] = mapped_column(ExternalId())
    item_code: Mapped[str] = mapped_column(ExternalId())
    qty: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cutoff_id: Mapped[int | None] = mapped_column(ForeignKey("order_cutoffs.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("collected_orders.id"))


class OrderCutoff(Base):
    """A cutoff of a tenant's lists (noon or evening): lines before it became orders."""

    __tablename__ = "order_cutoffs"
    __table_args__ = (UniqueConstraint("tenant_id", "cutoff_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deliver_on: Mapped[date] = mapped_column(Date)
    delivery_slot: Mapped[str] = mapped_column(String(10))
    """``afternoon`` (same day) or ``morning`` (next day)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OrderCutoffSetting(Base):
    """A tenant's own 接龙 cutoff times; tenants without one use ``QUNYUN_ORDER_CUTOFFS``."""

    __tablename__ = "order_cutoff_settings"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    cutoffs: Mapped[str] = mapped_column(String(100))
    """Local ``HH:MM`` times, sorted, comma-separated (``11:30,19:00``)."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CollectedOrder(Base):
    """A member's order from one list at one cutoff, with the partner's commission."""

    __tablename__ = "collected_orders"
    __table_args__ = (
        UniqueConstraint("cutoff_id", "list_id", "member_kind", "member_id"),
        Index("ix_collected_orders_list", "list_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    cutoff_id: Mapped[int] = mapped_column(ForeignKey("order_cutoffs.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("order_lists.id", ondelete="CASCADE"))
    member_kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind, "order_buyer_kind"))
    member_id: Mapped[str] = mapped_column(ExternalId())
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    commission_fen: Mapped[int] = mapped_column(BigInteger)
