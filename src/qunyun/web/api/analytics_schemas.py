"""Response bodies of ``/api/v1/analytics/…``: the growth analyses within the caller's scope."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

AsOf = Field(
    description="The day the figures end on (the lake's last day unless asked); null while "
    "the lake is empty."
)


class VipCandidateOut(BaseModel):
    """A VIP candidate store (active or core member, ranked by value within its province)."""

    province_code: str
    province: str
    rank: int = Field(description="Rank within the province, from 1.")
    store_id: str
    name: str
    value_fen: int = Field(description="annual_purchase_fen + order_fen (integer fen).")
    annual_purchase_fen: int
    order_fen: int = Field(description="Orders of the 90 days up to as_of (integer fen).")
    score: float = Field(description="Decayed activity score over 90 days, 2 decimals.")
    level: Literal["core", "active"]
    in_vip_group: bool = Field(description="Whether the store sits in an open VIP group now.")


class VipCandidatesOut(BaseModel):
    """VIP candidates in scope, by province code then rank; ``items`` the first ``limit``."""

    as_of: date | None = AsOf
    share: float = Field(description="Share of a province's active stores that are candidates.")
    total: int = Field(description="Candidates in scope (and in the province, when asked).")
    items: list[VipCandidateOut]


class FunnelRowOut(BaseModel):
    """The AARRR funnel of one matrix: members at each step."""

    matrix: Literal["dealer", "store", "consumer", "vip"]
    acquired: int
    activated: int
    retained: int
    revenue: int
    referral: int


class FunnelOut(BaseModel):
    """The funnel of every matrix (zeros where nobody joined in scope)."""

    as_of: date | None = AsOf
    matrices: list[FunnelRowOut]


class CohortOut(BaseModel):
    """One join-week cohort: members, and active members in week 0, 1, … after joining."""

    cohort_week: date = Field(description="Monday of the week of the members' first join.")
    members: int
    active: list[int]
    shares: list[float] = Field(description="active / members, 4 decimals.")


class CohortsOut(BaseModel):
    """The latest weekly cohorts (up to 14, each with up to 14 weeks)."""

    as_of: date | None = AsOf
    cohorts: list[CohortOut]


class TierReachOut(BaseModel):
    """How a content reached one tier."""

    tier: Literal["dealer", "store", "consumer"]
    share: float = Field(description="Reached groups / groups of the tier, 4 decimals.")
    median_delay_hours: float | None = Field(
        description="Median hours after the tier above first had it; null for dealers."
    )
    decay: float | None = Field(
        description="1 − share / share of the tier above; null for dealers or when the tier "
        "above was not reached."
    )


class ContentReachOut(BaseModel):
    """One content down the tiers."""

    content_id: str
    tiers: list[TierReachOut]


class ReachOut(BaseModel):
    """Reach down the tiers of every content, with the means and the 30% rule of thumb."""

    as_of: date | None = AsOf
    groups: dict[str, int] = Field(description="Groups of each tier in scope.")
    mean_share: dict[str, float | None]
    mean_decay: dict[str, float | None] = Field(description="Tiers below the dealers.")
    rule_of_thumb_decay: float
    contents: list[ContentReachOut]


class ReferrerOut(BaseModel):
    """An inviter on the leaderboard."""

    rank: int
    member_kind: str
    member_id: str
    name: str | None = Field(description="The master data's name; null for a member it lacks.")
    direct: int
    total: int = Field(description="Everyone below the inviter in the referral tree.")
    depth: int = Field(description="Longest chain below the inviter.")


class ReferralsOut(BaseModel):
    """The referral trees (老带新) in scope and the leaderboard's first ``limit``."""

    as_of: date | None = AsOf
    invitees: int
    inviters: int
    trees: int
    max_depth: int
    items: list[ReferrerOut]
