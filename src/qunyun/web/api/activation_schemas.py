"""Request and response bodies of the activation API (red packets, flash sales, 拼团, 接龙)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Id = Annotated[str, Field(min_length=1, max_length=64)]
Fen = Annotated[int, Field(ge=0, le=10**12, description="Amount in integer fen (分).")]
Units = Annotated[int, Field(ge=1, le=10**7)]
MemberKind = Literal["store", "distributor", "consumer"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActivationErrorOut(BaseModel):
    """A member's attempt the current state refuses (409)."""

    error: str = Field(
        description="`already_grabbed`, `empty`, `sold_out`, `limit_exceeded`, `not_started`, "
        "`ended`, `already_joined`, `budget_exceeded` …"
    )
    detail: str = Field(description="What happened, in Chinese.")


class MemberTokenIn(_In):
    """The member whose identity an H5 page will hold."""

    member_kind: MemberKind
    member_id: Id


class MemberTokenOut(BaseModel):
    """A signed member identity token (refused by the staff endpoints)."""

    access_token: str


class CreatedOut(BaseModel):
    """The id of what was created."""

    id: int


class RedPacketIn(_In):
    """A red packet for a group, split into ``count`` shares when it is sent."""

    group_id: Id
    total_fen: Annotated[int, Field(ge=1, le=10**12)]
    count: Annotated[int, Field(ge=1, le=10_000)]


class GrabOut(BaseModel):
    """The member's share: its amount and grab position (1 = first)."""

    amount_fen: int
    position: int


class GrabItem(GrabOut):
    """A share and who grabbed it."""

    member_kind: str
    member_id: str


class RedPacketOut(BaseModel):
    """A packet: totals and every grab so far, by position."""

    id: int
    group_id: str
    total_fen: int
    count: int
    remaining_fen: int
    grabs: list[GrabItem]


class FlashSaleIn(_In):
    """A flash sale (秒杀) in a group."""

    group_id: Id
    sku: Id
    title: Annotated[str, Field(min_length=1, max_length=200)]
    price_fen: Fen
    stock: Units
    per_member_limit: Units
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class OrderIn(_In):
    """How many units to buy."""

    qty: Annotated[int, Field(ge=1, le=10_000)]


class OrderCreatedOut(BaseModel):
    """The order a successful attempt made."""

    order_id: int


class SaleOrderOut(BaseModel):
    """An order of a flash sale."""

    order_id: int
    member_kind: str
    member_id: str
    qty: int
    amount_fen: int
    created_at: AwareDatetime


class FlashSaleOut(BaseModel):
    """A sale with its stock, units sold and orders (oldest first)."""

    id: int
    group_id: str
    sku: str
    title: str
    price_fen: int
    per_member_limit: int
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    stock: int
    sold: int
    orders: list[SaleOrderOut]


class GroupBuyIn(_In):
    """A 拼团 deal: a team completes when ``team_size`` members join within ``team_minutes``."""

    group_id: Id
    sku: Id
    title: Annotated[str, Field(min_length=1, max_length=200)]
    price_fen: Fen
    team_size: Annotated[int, Field(ge=2, le=1000)]
    stock: Units
    team_minutes: Annotated[int, Field(ge=1, le=30 * 24 * 60)]
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class TeamMemberOut(BaseModel):
    """A member of a team."""

    member_kind: str
    member_id: str


class TeamOut(BaseModel):
    """A team of a deal: ``open`` until full (``complete``) or past its deadline (``cancelled``)."""

    team_id: int
    status: str
    joined: int
    team_size: int
    deadline: AwareDatetime
    members: list[TeamMemberOut]


class GroupBuyOut(BaseModel):
    """A deal with its stock and teams (newest first)."""

    id: int
    group_id: str
    sku: str
    title: str
    price_fen: int
    team_size: int
    stock: int
    reserved: int
    sold: int
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    teams: list[TeamOut]


class ListItemIn(_In):
    """An item on offer in a 接龙 list and the store or warehouse that supplies it."""

    item_code: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    price_fen: Fen
    supplier_id: Id


class OrderListIn(_In):
    """Today's 接龙 list of a group, run by a partner (团长) who is a member of it."""

    group_id: Id
    partner_kind: MemberKind
    partner_id: Id
    commission_bp: Annotated[
        int, Field(ge=0, le=10_000, description="Partner's commission in basis points.")
    ] = 0
    items: Annotated[list[ListItemIn], Field(min_length=1, max_length=500)]


class LineIn(_In):
    """A member's line: an item of the list and a quantity."""

    item_code: Id
    qty: Annotated[int, Field(ge=1, le=10_000)]


class LineCreatedOut(BaseModel):
    """The line added."""

    line_id: int
    amount_fen: int


class ListItemOut(BaseModel):
    """An item of a list."""

    item_code: str
    name: str
    price_fen: int
    supplier_id: str


class LineOut(BaseModel):
    """A line of a list; ``locked`` once a cutoff made it an order."""

    line_id: int
    member_kind: str
    member_id: str
    item_code: str
    qty: int
    amount_fen: int
    added_at: AwareDatetime
    locked: bool


class OrderListOut(BaseModel):
    """A 接龙 list with its items and lines."""

    id: int
    group_id: str
    list_date: date
    partner_kind: str
    partner_id: str
    commission_bp: int
    closes_at: AwareDatetime
    items: list[ListItemOut]
    lines: list[LineOut]
