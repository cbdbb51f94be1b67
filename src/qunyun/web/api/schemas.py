"""Request and response bodies of the REST API (the OpenAPI document is made from these)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """Every error: a message meant for the person who caused it."""

    detail: str = Field(description="What went wrong, in Chinese, naming the field or object.")


class TokenIn(BaseModel):
    """Credentials of a console account."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=40)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    """A bearer token for the other endpoints."""

    access_token: str
    token_type: Literal["bearer"]


class MeOut(BaseModel):
    """The caller."""

    tenant: str
    username: str
    role: str
    staff_id: str | None
    distributor_id: str | None


class HealthOut(BaseModel):
    """A group's health over the 28 days up to the lake's last day (see the README)."""

    status: Literal["active", "quiet", "dormant", "dead"]
    trend: Literal["up", "flat", "down"]
    customer_messages: int = Field(description="Messages of customers (not staff) in 28 days.")
    customer_senders: int
    active_days: int = Field(description="Days of the 28 on which customers spoke.")
    staff_messages: int
    last_customer_message: date | None
    as_of: date = Field(description="The lake's last day, where the 28 days end.")


class GroupItem(BaseModel):
    """A group in a list."""

    id: str = Field(description="The group id, as `qunyun plan export` writes it.")
    name: str
    matrix: str
    territory_rep_id: str | None
    member_count: int
    health: HealthOut | None = Field(description="Group health; null while the lake is empty.")


class GroupPage(BaseModel):
    """One page of groups; ``next_cursor`` is null on the last page."""

    items: list[GroupItem]
    next_cursor: str | None


class MemberOut(BaseModel):
    """An open stay of a member in a group."""

    kind: str
    id: str
    name: str
    role: str
    joined_at: datetime


class StayOut(MemberOut):
    """A stay of a member in a group, open (``left_at`` null) or closed."""

    left_at: datetime | None


class GroupHistory(BaseModel):
    """Every stay a group has had, by when it began: its auditable history."""

    id: str
    name: str
    stays: list[StayOut]


class BreachOut(BaseModel):
    """A broken rule of a store group."""

    group_id: str
    rule: str
    detail: str


class OwnerOut(BaseModel):
    """The owner of a group on the chat platform (群主)."""

    id: str = Field(description="The owner's account: the company account, or a staff id.")
    name: str | None = Field(
        description="The brand's name for its company account, a staff member's name; "
        "null for an account Qunyun does not know."
    )
    is_company: bool = Field(
        description="Whether the owner is the tenant's company account (a group's owner "
        "should be; a staff member there is the audit's `person_owner`)."
    )


class GroupDetail(GroupItem):
    """A group with its owner, members, staff seats and rule breaches."""

    owner: OwnerOut | None = Field(description="The group's owner; null when none is recorded.")
    region: str | None
    created_at: datetime
    archived_at: datetime | None
    members: list[MemberOut]
    staff_seats: list[MemberOut]
    breaches: list[BreachOut]


class StoreItem(BaseModel):
    """A terminal store."""

    id: str
    name: str
    store_type: str
    region: str
    rep_id: str
    distributor_id: str | None
    status: str
    scale_tier: str | None
    growth: str
    closeness: int


class StorePage(BaseModel):
    """One page of stores; ``next_cursor`` is null on the last page."""

    items: list[StoreItem]
    next_cursor: str | None


class PlanRow(BaseModel):
    """What a plan changes in one matrix and province."""

    matrix: str
    region: str
    groups_created: int = 0
    groups_archived: int = 0
    groups_merged: int = 0
    members_added: int = 0
    members_removed: int = 0
    members_moved: int = 0
    staff_seats_added: int = 0
    staff_seats_removed: int = 0


class PlanOut(BaseModel):
    """A plan revision and its summary."""

    id: int
    status: str
    computed_at: datetime
    computed_by: str
    applied_at: datetime | None
    applied_by: str | None
    summary: list[PlanRow]


class PlanPage(BaseModel):
    """One page of plan revisions, newest first; ``next_cursor`` is null on the last page."""

    items: list[PlanOut]
    next_cursor: str | None


class ChangeOut(BaseModel):
    """One change of a plan to one group (joins and leaves list their members)."""

    id: int
    kind: str
    group_id: str
    group_name: str | None
    matrix: str
    territory_rep_id: str | None
    member_kind: str | None
    member_role: str | None
    member_ids: list[str]


class ChangePage(BaseModel):
    """One page of a plan's changes; ``next_cursor`` is null on the last page."""

    items: list[ChangeOut]
    next_cursor: str | None


class CoverageCount(BaseModel):
    """Active stores and those in a store group."""

    active: int
    covered: int


class UncoveredStore(BaseModel):
    """An active store in no store group, and why."""

    store_id: str
    rep_id: str
    reason: str


class CoverageOut(BaseModel):
    """Coverage of the active stores in the caller's scope by store groups."""

    active_stores: int
    covered: int
    coverage: float
    by_region: dict[str, CoverageCount]
    by_rep: dict[str, CoverageCount]
    uncovered: list[UncoveredStore]


class AuditOut(BaseModel):
    """Rule breaches of the store groups in the caller's scope."""

    breaches: list[BreachOut]


class HandoverIn(BaseModel):
    """Who hands over to whom (same role)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_id: str = Field(alias="from", min_length=1, max_length=64)
    to_id: str = Field(alias="to", min_length=1, max_length=64)


class HandoverOut(BaseModel):
    """What a handover moved."""

    stores: int
    groups: int
    reports: int
    seats_closed: int
    seats_opened: int


MAX_EVENTS = 10_000
"""Most events one ``POST /api/v1/events`` call takes; larger feeds send several calls."""


class EventsIn(BaseModel):
    """A batch of event records (field names as in ``qunyun events import``)."""

    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, object]] = Field(
        max_length=MAX_EVENTS,
        description=(
            "Event records: `event_id`, `ts` (ISO 8601 with offset or epoch ms), `kind`, "
            "`group_id`, `member_kind`, `member_id` and the fields of the kind. "
            f"At most {MAX_EVENTS:,} per call."
        ),
    )


class RejectedEventOut(BaseModel):
    """An event that was not stored, by its position in ``events`` (from 0)."""

    index: int
    reason: str


class EventsOut(BaseModel):
    """What a batch added: new events, repeats of known ``event_id``s, rejected records."""

    accepted: int
    duplicates: int
    rejected: list[RejectedEventOut]
