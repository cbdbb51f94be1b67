"""Group-buys (拼团): a leader opens a team; it completes at N members before its deadline.

Every member of an open team holds one reserved unit of the deal's stock (``reserved``); a
team that fills up turns its N reserved units into sold ones in the same transaction as the
last join, and a team past its deadline is cancelled, its members released and its units
returned. The members of a team that completes become ``order`` events of the outbox in the
completing join's transaction; a cancelled team never does (``order_events``). Seats and
stock move only by conditional updates (``joined < size``,
``reserved + sold < stock``, also a CHECK), and a member is in at most one team per deal
(unique constraint).

With Redis (``hot``) the free units, the teams' seats and who is in which team live in Lua
scripts (``hot``): a script decides an opening, a join or a cancellation and logs it, and
the action then applies the deal's logged team changes to SQL in its own transaction
(``persist.apply_logged``), so that the team it returns, and every read after it, is what
Redis decided. A process killed
in between leaves the decision in the log, and a drainer applies it; a member's retry finds
them already in the team. Deal keys are loaded from SQL when missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import NoReturn

from sqlalchemy import Connection, case, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qunyun.activation.common import (
    Sql,
    check_offer,
    epoch_ms,
    read_time,
    require_member,
)
from qunyun.activation.errors import ActivationConflict, Ended, LimitExceeded, NotStarted, SoldOut
from qunyun.activation.hot import Claim, DealKey, RedisHotState, member_key
from qunyun.activation.models import GroupBuy, GroupBuyMember, GroupBuyTeam, TeamStatus
from qunyun.activation.order_events import record_team_orders
from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.errors import Conflict, InvalidInput, NotFound
from qunyun.groups.models import Group
from qunyun.org.models import Tenant


class AlreadyJoined(ActivationConflict):
    """The member is already in a team of this deal."""

    code = "already_joined"


def check_create_group_buy(
    session: Session,
    tenant: Tenant,
    group_id: str,
    sku: str,
    title: str,
    price_fen: int,
    team_size: int,
    stock: int,
    team_minutes: int,
    starts_at: datetime,
    ends_at: datetime,
) -> None:
    """Raise NotFound for an unknown group and InvalidInput naming an impossible field."""
    group = session.get(Group, (tenant.id, group_id))
    if group is None or group.archived_at is not None:
        raise NotFound(f"没有社群 {group_id}")
    if team_size < 2:
        raise InvalidInput(f"成团人数 team_size 至少为 2（收到 {team_size}）")
    check_offer(sku, title, price_fen, stock, starts_at, ends_at)
    if stock < team_size:
        raise InvalidInput(f"库存 stock 至少够一个团（{team_size} 件，收到 {stock}）")
    if team_minutes < 1:
        raise InvalidInput(f"成团时限 team_minutes 至少 1 分钟（收到 {team_minutes}）")


def do_create_group_buy(
    session: Session,
    tenant: Tenant,
    group_id: str,
    sku: str,
    title: str,
    price_fen: int,
    team_size: int,
    stock: int,
    team_minutes: int,
    starts_at: datetime,
    ends_at: datetime,
) -> GroupBuy:
    """Create a 拼团 deal after ``check_create_group_buy``."""
    check_create_group_buy(
        session, tenant, group_id, sku, title, price_fen, team_size, stock, team_minutes,
        starts_at, ends_at,
    )  # fmt: skip
    deal = GroupBuy(
        tenant_id=tenant.id,
        group_id=group_id,
        sku=sku,
        title=title,
        price_fen=price_fen,
        team_size=team_size,
        team_minutes=team_minutes,
        stock=stock,
        reserved=0,
        sold=0,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=utcnow(),
    )
    session.add(deal)
    session.flush()
    return deal


def do_open_team(
    session: Session,
    tenant: Tenant,
    deal_id: int,
    leader_kind: ContactKind,
    leader_id: str,
    *,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> GroupBuyTeam:
    """Open a team with the leader as its first member, holding one unit.

    Raise NotFound (deal or membership), NotStarted / Ended outside the deal's window,
    AlreadyJoined when the leader is in a team of the deal, SoldOut when no unit is free.
    """
    when = when or utcnow()
    deal = _deal(session, tenant, deal_id)
    require_member(session, tenant, deal.group_id, leader_kind, leader_id, f"拼团 {deal_id}")
    if hot is not None:
        key, member, ms = deal_key(deal), member_key(leader_kind.value, leader_id), epoch_ms(when)
        claim = _decide(session, deal, hot, when, partial(hot.open_team, key, member, ms))
        if claim.status != "ok":
            _refuse(claim.status, deal.id, 0, leader_id)
        return _applied(session, hot, deal.id, int(claim.value))
    if when < deal.starts_at:
        raise NotStarted(f"拼团 {deal_id} 尚未开始")
    if when >= deal.ends_at:
        raise Ended(f"拼团 {deal_id} 已结束")
    if _in_team(session, deal.id, leader_kind, leader_id):
        raise AlreadyJoined(f"{leader_id} 已参加拼团 {deal.id}")
    _reserve(session, deal, completes=False)
    team = GroupBuyTeam(
        tenant_id=tenant.id,
        deal_id=deal_id,
        leader_kind=leader_kind,
        leader_id=leader_id,
        status=TeamStatus.OPEN,
        joined=1,
        deadline=min(when + timedelta(minutes=deal.team_minutes), deal.ends_at),
        created_at=when,
    )
    session.add(team)
    session.flush()
    _add_member(session, tenant, team.id, deal_id, leader_kind, leader_id, when)
    return team


def do_join_team(
    session: Session,
    tenant: Tenant,
    team_id: int,
    member_kind: ContactKind,
    member_id: str,
    *,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> GroupBuyTeam:
    """Join a team; the N-th member completes it. Return the team as it is after the join.

    Raise NotFound (team or membership), AlreadyJoined, Ended when the team is closed or past
    its deadline, LimitExceeded when it is full and SoldOut when no unit of stock is free.
    """
    when = when or utcnow()
    team = _team(session, tenant, team_id)
    if team is None and hot is not None:  # opened in Redis, not in SQL yet (its leader died)
        _catch_up(session, hot)
        team = _team(session, tenant, team_id)
    if team is None:
        raise NotFound(f"没有拼团队伍 {team_id}")
    deal = _deal(session, tenant, team.deal_id)
    require_member(session, tenant, deal.group_id, member_kind, member_id, f"拼团 {deal.id}")
    if hot is not None:
        key, member, ms = deal_key(deal), member_key(member_kind.value, member_id), epoch_ms(when)
        claim = _decide(session, deal, hot, when, partial(hot.join_team, key, team_id, member, ms))
        if claim.status != "ok":
            _refuse(claim.status, deal.id, team_id, member_id)
        return _applied(session, hot, deal.id, team_id)
    if _in_team(session, deal.id, member_kind, member_id):
        raise AlreadyJoined(f"{member_id} 已参加拼团 {deal.id}")
    completes = GroupBuyTeam.joined + 1 == deal.team_size
    joined = session.execute(
        update(GroupBuyTeam)
        .where(
            GroupBuyTeam.id == team_id,
            GroupBuyTeam.status == TeamStatus.OPEN,
            GroupBuyTeam.joined < deal.team_size,
            GroupBuyTeam.deadline > when,
        )
        .values(
            joined=GroupBuyTeam.joined + 1,
            status=case((completes, TeamStatus.COMPLETE.value), else_=GroupBuyTeam.status),
            closed_at=case((completes, when), else_=GroupBuyTeam.closed_at),
        )
        .returning(GroupBuyTeam.joined)
    ).scalar()
    if joined is None:
        session.refresh(team)
        if team.status is TeamStatus.OPEN and team.deadline > when:
            raise LimitExceeded(f"拼团队伍 {team_id} 已满")
        raise Ended(f"拼团队伍 {team_id} 已结束")
    _reserve(session, deal, completes=joined == deal.team_size)
    _add_member(session, tenant, team_id, deal.id, member_kind, member_id, when)
    if joined == deal.team_size:  # its members' units are orders now: revenue for the lake
        record_team_orders(session.connection(), team_id, when)
    session.refresh(team)
    return team


def do_cancel_expired_teams(
    session: Session,
    tenant: Tenant,
    *,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> list[int]:
    """Cancel the tenant's open teams past their deadline, release members and stock.

    With ``hot`` each team is cancelled in Redis first (a join Redis accepted before is
    counted, and none is accepted after) and the log applied. Return the ids of the teams
    cancelled now.
    """
    when = when or utcnow()
    if hot is not None:
        return _cancel_in_redis(session, tenant, when, hot)
    cancelled = session.execute(
        update(GroupBuyTeam)
        .where(
            GroupBuyTeam.tenant_id == tenant.id,
            GroupBuyTeam.status == TeamStatus.OPEN,
            GroupBuyTeam.deadline <= when,
        )
        .values(status=TeamStatus.CANCELLED, closed_at=when)
        .returning(GroupBuyTeam.id, GroupBuyTeam.deal_id, GroupBuyTeam.joined)
    ).all()
    for team_id, deal_id, joined in cancelled:
        session.execute(
            update(GroupBuy)
            .where(GroupBuy.id == deal_id)
            .values(reserved=GroupBuy.reserved - joined)
        )
        session.execute(delete(GroupBuyMember).where(GroupBuyMember.team_id == team_id))
    return sorted(team_id for team_id, _, _ in cancelled)


def _cancel_in_redis(
    session: Session, tenant: Tenant, when: datetime, hot: RedisHotState
) -> list[int]:
    _catch_up(session, hot)  # teams Redis opened are in SQL now
    due = session.execute(
        select(GroupBuyTeam.id, GroupBuy)
        .join(GroupBuy, GroupBuy.id == GroupBuyTeam.deal_id)
        .where(
            GroupBuyTeam.tenant_id == tenant.id,
            GroupBuyTeam.status == TeamStatus.OPEN,
            GroupBuyTeam.deadline <= when,
        )
        .order_by(GroupBuyTeam.id)
    ).all()
    cancelled = []
    for team_id, deal in due:
        key, ms = deal_key(deal), epoch_ms(when)
        claim = _decide(session, deal, hot, when, partial(hot.cancel_team, key, team_id, ms))
        if claim.status == "ok":  # else completed before its deadline, or cancelled by another
            cancelled.append(team_id)
    if cancelled:
        _catch_up(session, hot)
    return cancelled


# --- the Redis path -------------------------------------------------------------------------


def deal_key(deal: GroupBuy) -> DealKey:
    """Return what names the deal's Redis keys."""
    return DealKey(deal.id, epoch_ms(deal.created_at))


def _decide(
    session: Session,
    deal: GroupBuy,
    hot: RedisHotState,
    when: datetime,
    script: Callable[[], Claim],
) -> Claim:
    """Run a script on the deal's keys; when they are missing, load them from SQL and rerun."""
    claim = script()
    if claim.status == "missing":
        _catch_up(session, hot, deal.id)
        load_deal_state(session.connection(), deal.id, hot, when)
        claim = script()
    return claim


def _catch_up(session: Session, hot: RedisHotState, deal_id: int | None = None) -> None:
    """Apply the logged team changes of a deal (or of all) in the session's transaction.

    Only those: the transaction then locks no packet or sale that a drainer is applying
    grabs or orders to. Reload what the session holds.
    """
    from qunyun.activation import persist  # persist applies what this module decides

    session.flush()
    persist.apply_logged(session.connection(), hot, persist.team_changes(deal_id))
    session.expire_all()


def _applied(session: Session, hot: RedisHotState, deal_id: int, team_id: int) -> GroupBuyTeam:
    _catch_up(session, hot, deal_id)
    team = session.get(GroupBuyTeam, team_id)
    if team is None:  # SQL refused the log entry: it disagrees with Redis
        raise Conflict(f"拼团队伍 {team_id} 未能写入数据库，请稍后再试")
    return team


def _refuse(status: str, deal_id: int, team_id: int, member_id: str) -> NoReturn:
    if status == "already":
        raise AlreadyJoined(f"{member_id} 已参加拼团 {deal_id}")
    if status == "not_started":
        raise NotStarted(f"拼团 {deal_id} 尚未开始")
    if status == "ended":
        raise Ended(f"拼团队伍 {team_id} 已结束" if team_id else f"拼团 {deal_id} 已结束")
    if status == "full":
        raise LimitExceeded(f"拼团队伍 {team_id} 已满")
    if status == "sold_out":
        raise SoldOut(f"拼团 {deal_id} 库存已被占满")
    raise Conflict(f"拼团 {deal_id} 状态异常：{status}")


_DEAL_FOR_LOAD = Sql(
    """
SELECT stock - reserved - sold AS free, team_size, team_minutes, starts_at, ends_at, created_at,
  (SELECT max(id) FROM group_buy_teams) AS last_team_id
FROM group_buys WHERE id = :deal
"""
)
_TEAMS_FOR_LOAD = Sql(
    "SELECT id, status, joined, deadline FROM group_buy_teams "
    "WHERE deal_id = :deal AND status <> 'cancelled'"
)
_MEMBERS_FOR_LOAD = Sql(
    "SELECT member_kind, member_id, team_id FROM group_buy_members WHERE deal_id = :deal"
)


def load_deal_state(
    connection: Connection, deal_id: int, hot: RedisHotState, when: datetime | None = None
) -> bool:
    """Load a deal's free units, open and complete teams and their members into Redis.

    Drain the log into SQL first (``persist``), or seats not yet applied are given again.
    Return whether the keys were written (False when they were there, or no such deal).
    """
    deal = _DEAL_FOR_LOAD.run(connection, deal=deal_id).first()
    if deal is None:
        return False
    teams = _TEAMS_FOR_LOAD.run(connection, deal=deal_id).all()
    members = _MEMBERS_FOR_LOAD.run(connection, deal=deal_id).all()
    return hot.load_deal(
        DealKey(deal_id, epoch_ms(read_time(deal.created_at))),
        free=int(deal.free),
        team_size=int(deal.team_size),
        starts_ms=epoch_ms(read_time(deal.starts_at)),
        ends_ms=epoch_ms(read_time(deal.ends_at)),
        team_ms=int(deal.team_minutes) * 60_000,
        teams=[
            (row.id, row.status, row.joined, epoch_ms(read_time(row.deadline))) for row in teams
        ],
        members=[(member_key(row.member_kind, row.member_id), row.team_id) for row in members],
        last_team_id=int(deal.last_team_id or 0),
        now_ms=epoch_ms(when or utcnow()),
    )


def team_members(session: Session, team_id: int) -> list[tuple[ContactKind, str]]:
    """Return the members of a team in joining order."""
    rows = session.execute(
        select(GroupBuyMember.member_kind, GroupBuyMember.member_id)
        .where(GroupBuyMember.team_id == team_id)
        .order_by(GroupBuyMember.joined_at, GroupBuyMember.member_id)
    ).all()
    return [(kind, member) for kind, member in rows]


def _deal(session: Session, tenant: Tenant, deal_id: int) -> GroupBuy:
    deal = session.scalar(
        select(GroupBuy).where(GroupBuy.id == deal_id, GroupBuy.tenant_id == tenant.id)
    )
    if deal is None:
        raise NotFound(f"没有拼团 {deal_id}")
    return deal


def _team(session: Session, tenant: Tenant, team_id: int) -> GroupBuyTeam | None:
    return session.scalar(
        select(GroupBuyTeam).where(GroupBuyTeam.id == team_id, GroupBuyTeam.tenant_id == tenant.id)
    )


def _in_team(session: Session, deal_id: int, member_kind: ContactKind, member_id: str) -> bool:
    return (
        session.scalar(
            select(GroupBuyMember.team_id).where(
                GroupBuyMember.deal_id == deal_id,
                GroupBuyMember.member_kind == member_kind,
                GroupBuyMember.member_id == member_id,
            )
        )
        is not None
    )


def _reserve(session: Session, deal: GroupBuy, *, completes: bool) -> None:
    size = deal.team_size if completes else 0
    taken = session.execute(
        update(GroupBuy)
        .where(GroupBuy.id == deal.id, GroupBuy.reserved + GroupBuy.sold < GroupBuy.stock)
        .values(reserved=GroupBuy.reserved + 1 - size, sold=GroupBuy.sold + size)
        .returning(GroupBuy.id)
    ).first()
    if taken is None:
        raise SoldOut(f"拼团 {deal.id} 库存已被占满")


def _add_member(
    session: Session,
    tenant: Tenant,
    team_id: int,
    deal_id: int,
    member_kind: ContactKind,
    member_id: str,
    when: datetime,
) -> None:
    try:
        session.execute(
            insert(GroupBuyMember).values(
                team_id=team_id,
                deal_id=deal_id,
                member_kind=member_kind,
                member_id=member_id,
                tenant_id=tenant.id,
                joined_at=when,
            )
        )
    except IntegrityError as error:
        raise AlreadyJoined(f"{member_id} 已参加拼团 {deal_id}") from error


@dataclass(frozen=True)
class TeamView:
    """A team of a deal with its members in joining order."""

    id: int
    leader_kind: ContactKind
    leader_id: str
    status: TeamStatus
    joined: int
    deadline: datetime
    members: list[tuple[ContactKind, str]]


@dataclass(frozen=True)
class DealView:
    """A deal with its stock and every team (newest first)."""

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
    teams: list[TeamView]


def group_buy_detail(
    session: Session, tenant: Tenant, deal_id: int, hot: RedisHotState | None = None
) -> DealView:
    """Return a deal with its teams and their members; raise NotFound when not the tenant's.

    With ``hot`` what Redis decided and SQL has not applied yet is applied first.
    """
    if hot is not None:
        _catch_up(session, hot, deal_id)
    deal = _deal(session, tenant, deal_id)
    teams = session.scalars(
        select(GroupBuyTeam).where(GroupBuyTeam.deal_id == deal_id).order_by(GroupBuyTeam.id.desc())
    ).all()
    members: dict[int, list[tuple[ContactKind, str]]] = {team.id: [] for team in teams}
    for team_id, kind, member in session.execute(
        select(GroupBuyMember.team_id, GroupBuyMember.member_kind, GroupBuyMember.member_id)
        .where(GroupBuyMember.deal_id == deal_id)
        .order_by(GroupBuyMember.joined_at, GroupBuyMember.member_id)
    ):
        members.setdefault(team_id, []).append((kind, member))
    return DealView(
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
        teams=[
            TeamView(
                id=team.id,
                leader_kind=team.leader_kind,
                leader_id=team.leader_id,
                status=team.status,
                joined=team.joined,
                deadline=team.deadline,
                members=members[team.id],
            )
            for team in teams
        ],
    )


def team_deal(session: Session, tenant: Tenant, team_id: int) -> int:
    """Return the deal of a team; raise NotFound when the team is not the tenant's."""
    deal_id = session.scalar(
        select(GroupBuyTeam.deal_id).where(
            GroupBuyTeam.id == team_id, GroupBuyTeam.tenant_id == tenant.id
        )
    )
    if deal_id is None:
        raise NotFound(f"没有拼团队伍 {team_id}")
    return deal_id
