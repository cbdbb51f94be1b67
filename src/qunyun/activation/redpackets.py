"""Red packets (红包): rules and budgets, sending, grabbing on SQL or Redis, expiry, 红包接龙.

A packet's shares are drawn when it is sent (``split.fair_split``) and stored per position; a
grab claims the next position. On SQL the claim is one conditional update of the packet's
``grabbed_count`` (the row lock orders concurrent grabbers, the returned count is the
position, and the same update counts the share's amount); the share row then gets its
member, and the unique (packet, member) constraint refuses a second share to anyone. On
PostgreSQL claim, share and event are one statement in autocommit, so that the packet's row
lock is held only while PostgreSQL runs it, never across a round trip. With Redis (``hot``) a
Lua script pops the next share, records the member and logs the grab atomically, and
``persist`` applies the log to SQL.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from qunyun.activation.common import (
    Attempt,
    Rows,
    Sql,
    Statement,
    attempt,
    epoch_ms,
    in_session,
    is_member_sql,
    outcome,
    read_time,
    require_member,
    upsert,
)
from qunyun.activation.errors import (
    AlreadyGrabbed,
    BudgetExceeded,
    Ended,
    NotAsked,
    PacketEmpty,
    RoundOpen,
    RoundSent,
)
from qunyun.activation.hot import Claim, RedisHotState, member_key
from qunyun.activation.lane import OneStatement, Together
from qunyun.activation.models import (
    ALL_GROUPS,
    ActivationEvent,
    PacketStatus,
    RedPacket,
    RedPacketBudget,
    RedPacketRelay,
    RedPacketRule,
    RedPacketShare,
    RelayStatus,
)
from qunyun.activation.schedule import in_window, parse_time
from qunyun.activation.split import best_luck_position, fair_split
from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.core.errors import Conflict, InvalidInput, NotFound
from qunyun.core.money import format_yuan
from qunyun.groups.models import Group
from qunyun.org.models import Tenant


@dataclass(frozen=True)
class Rule:
    """The red-packet rule in force for a group."""

    monthly_budget_fen: int
    min_total_fen: int
    max_total_fen: int
    min_count: int
    max_count: int
    window_start: str
    window_end: str
    expiry_minutes: int
    scope: str = ALL_GROUPS


DEFAULT_RULE = Rule(
    monthly_budget_fen=100_000,
    min_total_fen=100,
    max_total_fen=20_000,
    min_count=1,
    max_count=200,
    window_start="08:00",
    window_end="22:00",
    expiry_minutes=24 * 60,
)
"""Without a rule of its own: ¥1,000 a group a month, ¥1–¥200 a packet, 1–200 shares, sent
08:00–22:00 local, unclaimed shares return after 24 hours."""


@dataclass(frozen=True)
class Grab:
    """One member's share of a packet."""

    packet_id: int
    position: int
    amount_fen: int
    member_kind: ContactKind
    member_id: str
    grabbed_at: datetime
    is_best_luck: bool


@dataclass(frozen=True)
class PacketView:
    """A packet as staff see it: its totals and every grab so far, in grab order."""

    id: int
    group_id: str
    total_fen: int
    count: int
    remaining_fen: int
    status: PacketStatus
    grabs: list[Grab]
    relay_id: int | None = None
    relay_round: int | None = None
    """The relay whose round this packet is, and the round (None outside a relay)."""


# --- rules and budgets -----------------------------------------------------------------------


def effective_rule(session: Session, tenant: Tenant, group_id: str) -> Rule:
    """Return the group's own rule, else the tenant's default, else ``DEFAULT_RULE``."""
    rows = session.scalars(
        select(RedPacketRule).where(
            RedPacketRule.tenant_id == tenant.id, RedPacketRule.scope.in_([group_id, ALL_GROUPS])
        )
    ).all()
    chosen = min(rows, key=lambda row: row.scope == ALL_GROUPS, default=None)
    if chosen is None:
        return DEFAULT_RULE
    return Rule(
        monthly_budget_fen=chosen.monthly_budget_fen,
        min_total_fen=chosen.min_total_fen,
        max_total_fen=chosen.max_total_fen,
        min_count=chosen.min_count,
        max_count=chosen.max_count,
        window_start=chosen.window_start,
        window_end=chosen.window_end,
        expiry_minutes=chosen.expiry_minutes,
        scope=chosen.scope,
    )


def check_rule(rule: Rule) -> None:
    """Raise InvalidInput when a rule contradicts itself."""
    problems = []
    if rule.monthly_budget_fen < 0:
        problems.append(f"月预算 monthly_budget_fen 不能为负（收到 {rule.monthly_budget_fen}）")
    if not 1 <= rule.min_total_fen <= rule.max_total_fen:
        problems.append(
            "金额范围应满足 1 ≤ 最小 min_total_fen ≤ 最大 max_total_fen"
            f"（收到 {rule.min_total_fen} 和 {rule.max_total_fen} 分）"
        )
    if not 1 <= rule.min_count <= rule.max_count:
        problems.append(
            "个数范围应满足 1 ≤ 最少 min_count ≤ 最多 max_count"
            f"（收到 {rule.min_count} 和 {rule.max_count}）"
        )
    if rule.max_count > rule.max_total_fen:
        problems.append(
            f"最多个数不能超过最大金额（每个红包至少 1 分）：max_count {rule.max_count} > "
            f"max_total_fen {rule.max_total_fen}"
        )
    if rule.expiry_minutes < 1:
        problems.append(f"过期时间 expiry_minutes 至少 1 分钟（收到 {rule.expiry_minutes}）")
    for text in (rule.window_start, rule.window_end):
        try:
            parse_time(text)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise InvalidInput("红包规则有误：" + "；".join(problems))


def do_set_rule(session: Session, tenant: Tenant, rule: Rule) -> Rule:
    """Create or replace the rule of ``rule.scope`` (a group id, or ``*`` for the tenant).

    Raise InvalidInput for a contradictory rule and NotFound for an unknown group.
    """
    check_rule(rule)
    if rule.scope != ALL_GROUPS and session.get(Group, (tenant.id, rule.scope)) is None:
        raise NotFound(f"没有社群 {rule.scope}")
    values = {
        "monthly_budget_fen": rule.monthly_budget_fen,
        "min_total_fen": rule.min_total_fen,
        "max_total_fen": rule.max_total_fen,
        "min_count": rule.min_count,
        "max_count": rule.max_count,
        "window_start": parse_time(rule.window_start).strftime("%H:%M"),
        "window_end": parse_time(rule.window_end).strftime("%H:%M"),
        "expiry_minutes": rule.expiry_minutes,
        "updated_at": utcnow(),
    }
    statement = upsert(session, RedPacketRule).values(
        tenant_id=tenant.id, scope=rule.scope, **values
    )
    session.execute(
        statement.on_conflict_do_update(index_elements=["tenant_id", "scope"], set_=values)
    )
    return effective_rule(session, tenant, rule.scope)


def budget_month(moment: datetime, zone: str) -> str:
    """Return the local month (``2026-03``) whose budget pays at ``moment``."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m")


def _spend(
    session: Session, tenant: Tenant, group_id: str, month: str, amount_fen: int, budget_fen: int
) -> None:
    """Take ``amount_fen`` from the group's month budget; raise BudgetExceeded when short."""
    session.execute(
        upsert(session, RedPacketBudget)
        .values(
            tenant_id=tenant.id, group_id=group_id, month=month, budget_fen=budget_fen, spent_fen=0
        )
        .on_conflict_do_nothing()
    )
    spent = session.execute(
        update(RedPacketBudget)
        .where(
            RedPacketBudget.tenant_id == tenant.id,
            RedPacketBudget.group_id == group_id,
            RedPacketBudget.month == month,
            RedPacketBudget.spent_fen + amount_fen <= budget_fen,
        )
        .values(budget_fen=budget_fen, spent_fen=RedPacketBudget.spent_fen + amount_fen)
        .returning(RedPacketBudget.spent_fen)
    ).first()
    if spent is None:
        left = session.scalar(
            select(RedPacketBudget.budget_fen - RedPacketBudget.spent_fen).where(
                RedPacketBudget.tenant_id == tenant.id,
                RedPacketBudget.group_id == group_id,
                RedPacketBudget.month == month,
            )
        )
        raise BudgetExceeded(
            f"社群 {group_id} {month} 红包预算不足：剩余 ¥{format_yuan(max(left or 0, 0))}，"
            f"需要 ¥{format_yuan(amount_fen)}"
        )


def _refund(session: Session, tenant: Tenant, group_id: str, month: str, amount_fen: int) -> None:
    if amount_fen > 0:
        session.execute(
            update(RedPacketBudget)
            .where(
                RedPacketBudget.tenant_id == tenant.id,
                RedPacketBudget.group_id == group_id,
                RedPacketBudget.month == month,
            )
            .values(spent_fen=RedPacketBudget.spent_fen - amount_fen)
        )


def budget_left(session: Session, tenant: Tenant, group_id: str, when: datetime) -> int:
    """Return the fen left in the group's budget for the month of ``when``."""
    rule = effective_rule(session, tenant, group_id)
    spent = session.scalar(
        select(RedPacketBudget.spent_fen).where(
            RedPacketBudget.tenant_id == tenant.id,
            RedPacketBudget.group_id == group_id,
            RedPacketBudget.month == budget_month(when, tenant.timezone),
        )
    )
    return rule.monthly_budget_fen - (spent or 0)


# --- sending ------------------------------------------------------------------------------


def check_create_red_packet(
    session: Session, tenant: Tenant, group_id: str, total_fen: int, count: int, when: datetime
) -> Rule:
    """Return the rule that allows this packet.

    Raise NotFound for an unknown or archived group, InvalidInput when the amount or count is
    outside the rule or the local time outside its window.
    """
    group = session.get(Group, (tenant.id, group_id))
    if group is None or group.archived_at is not None:
        raise NotFound(f"没有社群 {group_id}")
    rule = effective_rule(session, tenant, group_id)
    if not rule.min_total_fen <= total_fen <= rule.max_total_fen:
        raise InvalidInput(
            f"红包金额应在 ¥{format_yuan(rule.min_total_fen)}–¥{format_yuan(rule.max_total_fen)} 之间"
            f"（收到 ¥{format_yuan(total_fen)}）"
        )
    if not rule.min_count <= count <= rule.max_count:
        raise InvalidInput(f"红包个数应在 {rule.min_count}–{rule.max_count} 之间（收到 {count}）")
    if total_fen < count:
        raise InvalidInput(f"总金额 {total_fen} 分不够 {count} 人每人 1 分")
    start, end = parse_time(rule.window_start), parse_time(rule.window_end)
    if not in_window(when, start, end, tenant.timezone):
        raise InvalidInput(f"现在不在发红包时段 {rule.window_start}–{rule.window_end} 内")
    return rule


def do_create_red_packet(
    session: Session,
    tenant: Tenant,
    group_id: str,
    total_fen: int,
    count: int,
    *,
    sender_kind: ContactKind = ContactKind.STAFF,
    sender_id: str = "hq",
    when: datetime | None = None,
    rng: random.Random | None = None,
) -> RedPacket:
    """Send a red packet to a group, paid from the group's budget for the month.

    Raise what ``check_create_red_packet`` raises, and BudgetExceeded when the budget is short.
    The Redis state of the packet is loaded lazily by its first grab (from committed SQL).
    """
    when = when or utcnow()
    rule = check_create_red_packet(session, tenant, group_id, total_fen, count, when)
    month = budget_month(when, tenant.timezone)
    _spend(session, tenant, group_id, month, total_fen, rule.monthly_budget_fen)
    return _send(
        session,
        tenant,
        group_id,
        total_fen,
        count,
        sender_kind,
        sender_id,
        when,
        timedelta(minutes=rule.expiry_minutes),
        rng,
        budget_month_paid=month,
    )


def _send(
    session: Session,
    tenant: Tenant,
    group_id: str,
    total_fen: int,
    count: int,
    sender_kind: ContactKind,
    sender_id: str,
    when: datetime,
    lifetime: timedelta,
    rng: random.Random | None,
    *,
    budget_month_paid: str | None,
    relay: RedPacketRelay | None = None,
) -> RedPacket:
    rng = rng or random.SystemRandom()
    shares = fair_split(total_fen, count, rng)
    best = best_luck_position(shares, rng)
    packet = RedPacket(
        tenant_id=tenant.id,
        group_id=group_id,
        sender_kind=sender_kind,
        sender_id=sender_id,
        total_fen=total_fen,
        count=count,
        status=PacketStatus.OPEN,
        grabbed_count=0,
        grabbed_fen=0,
        refunded_fen=0,
        budget_month=budget_month_paid,
        relay_id=relay.id if relay else None,
        relay_round=relay.rounds_sent if relay else None,
        created_at=when,
        expires_at=when + lifetime,
    )
    session.add(packet)
    session.flush()
    session.execute(
        insert(RedPacketShare),
        [
            {
                "packet_id": packet.id,
                "position": position,
                "tenant_id": tenant.id,
                "amount_fen": amount,
                "is_best_luck": position == best,
            }
            for position, amount in enumerate(shares, start=1)
        ],
    )
    _record_event(session, tenant, packet, "red_packet_send", sender_kind, sender_id, when)
    return packet


# --- grabbing ------------------------------------------------------------------------------

_READ_FOR_GRAB = Sql(
    f"""
SELECT p.group_id, p.status, p.expires_at, p.relay_id, {is_member_sql("p")} AS is_member,
  (SELECT s.amount_fen FROM red_packet_shares s
   WHERE s.packet_id = p.id AND s.member_kind = :kind AND s.member_id = :member) AS held_fen
FROM red_packets p WHERE p.id = :packet AND p.tenant_id = :tenant
"""
)
# The claim takes the next position, counts its amount and finishes the packet at the last one;
# SET expressions read the row as it was, and a waiter re-reads it when the lock is released.
_CLAIM = """
UPDATE red_packets SET
  grabbed_count = grabbed_count + 1,
  grabbed_fen = grabbed_fen + (
    SELECT s.amount_fen FROM red_packet_shares s
    WHERE s.packet_id = red_packets.id AND s.position = red_packets.grabbed_count + 1),
  status = CASE WHEN grabbed_count + 1 = count THEN 'finished' ELSE status END,
  closed_at = CASE WHEN grabbed_count + 1 = count THEN :now ELSE closed_at END
WHERE id = :packet AND status = 'open' AND grabbed_count < count AND expires_at > :now
"""
_CLAIM_SQLITE = Sql(_CLAIM + "RETURNING grabbed_count, status")
_TAKE_SHARE = Sql(
    """
UPDATE red_packet_shares SET member_kind = :kind, member_id = :member, grabbed_at = :now
WHERE packet_id = :packet AND position = :position AND member_id IS NULL
RETURNING amount_fen, is_best_luck
"""
)
_GRAB_EVENT = Sql(
    """
INSERT INTO activation_events
  (event_id, tenant_id, ts, kind, group_id, member_kind, member_id, red_packet_id, amount_fen)
VALUES (:event_id, :tenant, :now, 'red_packet_grab', :group_id, :kind, :member, :packet, :amount)
"""
)
# The CTEs after a claim on PostgreSQL: the claimed position's share, and its event.
_SHARE_AND_EVENT = """share AS (
  UPDATE red_packet_shares s SET member_kind = :kind, member_id = :member, grabbed_at = :now
  FROM claim
  WHERE s.packet_id = claim.id AND s.position = claim.grabbed_count AND s.member_id IS NULL
  RETURNING s.position, s.amount_fen, s.is_best_luck),
event AS (
  INSERT INTO activation_events
    (event_id, tenant_id, ts, kind, group_id, member_kind, member_id, red_packet_id, amount_fen)
  SELECT md5(claim.tenant_id || ':' || claim.id || ':' || share.position)::uuid::text,
    claim.tenant_id, :now, 'red_packet_grab', claim.group_id, :kind, :member, claim.id,
    share.amount_fen
  FROM claim, share)
"""
# PostgreSQL: claim, share and event in one statement (one round trip, locks held only inside
# PostgreSQL); a claim without its share (state left by another path) fails the statement.
_GRAB_POSTGRESQL = Sql(
    f"""
WITH claim AS ({_CLAIM} RETURNING id, tenant_id, group_id, grabbed_count, status),
{_SHARE_AND_EVENT}SELECT claim.grabbed_count, claim.status, share.amount_fen, share.is_best_luck,
  CASE WHEN share.position IS NULL THEN CAST(claim.status || ' share taken' AS integer) END
FROM claim LEFT JOIN share ON true
"""
)
# PostgreSQL, the hot lane's grab: the read folded in too (one round trip). The claim runs only
# for a member in the group who holds no share, of a packet outside a relay; the row tells
# which check refused. The read is the statement's snapshot: a share the member took in a
# transaction committed since fails the unique (packet, member) of shares, as before.
_GRAB_POSTGRESQL_AT_ONCE = Sql(
    f"""
WITH packet AS (
  SELECT p.id, p.status, p.expires_at, p.relay_id, {is_member_sql("p")} AS is_member,
    (SELECT s.amount_fen FROM red_packet_shares s
     WHERE s.packet_id = p.id AND s.member_kind = :kind AND s.member_id = :member) AS held_fen
  FROM red_packets p WHERE p.id = :packet AND p.tenant_id = :tenant),
claim AS ({_CLAIM}
  AND EXISTS (SELECT 1 FROM packet
              WHERE packet.is_member AND packet.held_fen IS NULL AND packet.relay_id IS NULL)
  RETURNING id, tenant_id, group_id, grabbed_count, status),
{_SHARE_AND_EVENT}SELECT packet.status AS packet_status, packet.expires_at, packet.relay_id, packet.is_member,
  packet.held_fen, claim.grabbed_count, share.amount_fen, share.is_best_luck,
  CASE WHEN claim.id IS NOT NULL AND share.position IS NULL
    THEN CAST(claim.status || ' share taken' AS integer) END AS guard
FROM packet LEFT JOIN claim ON true LEFT JOIN share ON true
"""
)
_ASK_NEXT_SENDER = Sql(
    """
UPDATE red_packet_relays SET
  next_sender_kind = (SELECT s.member_kind FROM red_packet_shares s
                      WHERE s.packet_id = :packet AND s.is_best_luck),
  next_sender_id = (SELECT s.member_id FROM red_packet_shares s
                    WHERE s.packet_id = :packet AND s.is_best_luck),
  status = CASE WHEN rounds_sent = rounds THEN 'done' ELSE status END,
  closed_at = CASE WHEN rounds_sent = rounds THEN :now ELSE closed_at END
WHERE id = :relay AND status = 'running'
"""
)


def event_id(tenant_id: int, packet_id: int, position: int) -> str:
    """Return the id of a packet's event: its send (position 0) or the grab of a position.

    The MD5 of ``tenant:packet:position`` as a UUID, which PostgreSQL computes the same way
    (``md5(…)::uuid``), so that a grab, a re-applied log entry and an export agree on it.
    """
    digest = hashlib.md5(f"{tenant_id}:{packet_id}:{position}".encode(), usedforsecurity=False)
    return str(uuid.UUID(digest.hexdigest()))


def do_grab_red_packet(
    session: Session,
    tenant: Tenant,
    packet_id: int,
    member_kind: ContactKind,
    member_id: str,
    *,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> Grab:
    """Give the member the next share of the packet, in the session's transaction.

    With ``hot`` the claim is made in Redis and applied to SQL in this transaction too (its log
    entry, applied again later, changes nothing). Raise what ``grab_red_packet`` raises.
    """
    return grab_on(
        in_session(session), tenant.id, packet_id, member_kind, member_id, when=when, hot=hot
    )


def grab_red_packet(
    engine: Engine,
    tenant_id: int,
    packet_id: int,
    member_kind: ContactKind,
    member_id: str,
    *,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> Grab:
    """Give the member the next share of the packet on a connection of its own (the API's path).

    On SQL the grab is committed when this returns. With ``hot`` it is decided and logged in
    Redis and this returns at once; ``persist`` applies the log to SQL.

    Raise NotFound when the packet is not the tenant's or the member is not in its group now,
    AlreadyGrabbed when the member holds a share, PacketEmpty when every share is taken, and
    Ended when the packet expired.
    """
    with attempt(engine) as grab:
        return grab_on(grab, tenant_id, packet_id, member_kind, member_id, when=when, hot=hot)


def grab_on(
    grab: Attempt,
    tenant_id: int,
    packet_id: int,
    member_kind: ContactKind,
    member_id: str,
    *,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> Grab:
    """Grab as ``grab_red_packet`` does, on an attempt the caller runs (the hot lane's too)."""
    when = when or utcnow()
    at_once = grab_statement(grab, tenant_id, packet_id, member_kind, member_id, when=when, hot=hot)
    if at_once is not None:
        with grab.write() as connection:
            done = at_once.run(connection)
        if done is not None:
            return done
    params = _grab_params(grab, tenant_id, packet_id, member_kind, member_id, when)
    packet = _READ_FOR_GRAB.run(grab.connection, **params).first()
    if packet is None or not packet.is_member:
        raise NotFound(f"没有红包 {packet_id}")
    if packet.held_fen is not None:
        raise AlreadyGrabbed(
            f"{member_id} 已抢过红包 {packet_id}（¥{format_yuan(packet.held_fen)}）"
        )
    if hot is not None:
        return _grab_in_redis(grab, tenant_id, packet_id, member_kind, member_id, when, hot)
    with grab.write(statements=1 if packet.relay_id is None else 2) as connection:
        if grab.is_postgresql:
            try:
                row = _GRAB_POSTGRESQL.run(connection, **params).first()
            except IntegrityError as error:  # the same member grabbing at the same moment
                raise AlreadyGrabbed(f"{member_id} 已抢过红包 {packet_id}") from error
            if row is None:
                _raise_closed(packet_id, packet.status, read_time(packet.expires_at), when)
            position, status = row.grabbed_count, row.status
            amount, is_best_luck = row.amount_fen, row.is_best_luck
        else:
            claimed = _CLAIM_SQLITE.run(connection, **params).first()
            if claimed is None:
                _raise_closed(packet_id, packet.status, read_time(packet.expires_at), when)
            position, status = claimed.grabbed_count, claimed.status
            try:
                share = _TAKE_SHARE.run(connection, **params, position=position).first()
            except IntegrityError as error:
                raise AlreadyGrabbed(f"{member_id} 已抢过红包 {packet_id}") from error
            if share is None:
                raise Conflict(f"红包 {packet_id} 第 {position} 份已被领取，请重试")
            amount, is_best_luck = share.amount_fen, share.is_best_luck
            _GRAB_EVENT.run(
                connection,
                **params,
                event_id=event_id(tenant_id, packet_id, position),
                group_id=packet.group_id,
                amount=amount,
            )
        if status == PacketStatus.FINISHED.value and packet.relay_id is not None:
            _ASK_NEXT_SENDER.run(
                connection, packet=packet_id, relay=packet.relay_id, now=params["now"]
            )
    return Grab(
        packet_id=packet_id,
        position=int(position),
        amount_fen=int(amount),
        member_kind=member_kind,
        member_id=member_id,
        grabbed_at=when,
        is_best_luck=bool(is_best_luck),
    )


def _grab_params(
    grab: Attempt,
    tenant_id: int,
    packet_id: int,
    member_kind: ContactKind,
    member_id: str,
    when: datetime,
) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "packet": packet_id,
        "kind": member_kind.value,
        "member": member_id,
        "now": grab.time(when),
    }


def grab_statement(
    grab: Attempt,
    tenant_id: int,
    packet_id: int,
    member_kind: ContactKind,
    member_id: str,
    *,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> Statement[Grab | None] | None:
    """Return the grab as one statement, read included, on PostgreSQL with SQL hot state.

    Return None elsewhere. The statement's answer is None for a relay's packet, which it leaves
    alone (the last grab of a round also asks the next sender: ``grab_on``'s two-statement
    path).
    """
    if not grab.is_postgresql or hot is not None:
        return None
    when = when or utcnow()
    return Statement(
        _GRAB_POSTGRESQL_AT_ONCE,
        _grab_params(grab, tenant_id, packet_id, member_kind, member_id, when),
        partial(_grabbed_at_once, packet_id, member_kind, member_id, when),
        partial(_grab_refusal, packet_id, member_id),
    )


def _grab_refusal(packet_id: int, member_id: str, error: DBAPIError) -> Exception | None:
    if isinstance(error, IntegrityError):  # the same member grabbing at the same moment
        return AlreadyGrabbed(f"{member_id} 已抢过红包 {packet_id}")
    return None


def _grabbed_at_once(
    packet_id: int, member_kind: ContactKind, member_id: str, when: datetime, rows: Rows
) -> Grab | None:
    """Read the row of ``_GRAB_POSTGRESQL_AT_ONCE``: the grab, a refusal, or None for a relay."""
    row = rows.first()
    if row is None or not row.is_member:
        raise NotFound(f"没有红包 {packet_id}")
    if row.held_fen is not None:
        raise AlreadyGrabbed(f"{member_id} 已抢过红包 {packet_id}（¥{format_yuan(row.held_fen)}）")
    if row.relay_id is not None:
        return None
    if row.grabbed_count is None:
        _raise_closed(packet_id, row.packet_status, read_time(row.expires_at), when)
    return Grab(
        packet_id=packet_id,
        position=int(row.grabbed_count),
        amount_fen=int(row.amount_fen),
        member_kind=member_kind,
        member_id=member_id,
        grabbed_at=when,
        is_best_luck=bool(row.is_best_luck),
    )


def grab_in_batch(
    *,
    tenant_id: int,
    packet_id: int,
    member_kind: ContactKind,
    member_id: str,
    when: datetime | None = None,
) -> OneStatement:
    """Return a grab on SQL hot state that the hot lane batches (one statement on PostgreSQL)."""
    arguments: dict[str, Any] = {
        "tenant_id": tenant_id,
        "packet_id": packet_id,
        "member_kind": member_kind,
        "member_id": member_id,
        "when": when,
    }
    return OneStatement(partial(grab_on, **arguments), partial(grab_statement, **arguments))


def _raise_closed(packet_id: int, status: str, expires_at: datetime, when: datetime) -> NoReturn:
    if status == PacketStatus.EXPIRED.value or expires_at <= when:
        raise Ended(f"红包 {packet_id} 已过期")
    raise PacketEmpty(f"红包 {packet_id} 已被抢完")


def _grab_in_redis(
    grab: Attempt,
    tenant_id: int,
    packet_id: int,
    member_kind: ContactKind,
    member_id: str,
    when: datetime,
    hot: RedisHotState,
) -> Grab:
    from qunyun.activation import persist  # persist applies what this module decides

    member = member_key(member_kind.value, member_id)
    claim = hot.claim_share(packet_id, member, epoch_ms(when))
    if claim.status == "missing":
        persist.catch_up(grab, hot)
        load_packet_state(grab.connection, packet_id, hot, when)
        claim = hot.claim_share(packet_id, member, epoch_ms(when))
    granted = _claimed(claim, packet_id, member_kind, member_id, when)
    if not grab.owns_transactions:  # in a caller's transaction: SQL has it when that commits
        with grab.write() as connection:
            persist.apply_grabs(connection, [persist.Taken(packet_id, member, claim.value, when)])
    return granted


def _claimed(
    claim: Claim, packet_id: int, member_kind: ContactKind, member_id: str, when: datetime
) -> Grab:
    """Return the grab a claim script answered; raise its refusal."""
    if claim.status == "already":
        raise AlreadyGrabbed(
            f"{member_id} 已抢过红包 {packet_id}（¥{format_yuan(claim.amount_fen)}）"
        )
    if claim.status == "empty":
        raise PacketEmpty(f"红包 {packet_id} 已被抢完")
    if claim.status == "closed":
        raise Ended(f"红包 {packet_id} 已过期")
    if claim.status != "ok":
        raise Conflict(f"红包 {packet_id} 状态异常：{claim.status}")
    return Grab(
        packet_id=packet_id,
        position=claim.position,
        amount_fen=claim.amount_fen,
        member_kind=member_kind,
        member_id=member_id,
        grabbed_at=when,
        is_best_luck=False,
    )


@dataclass(frozen=True)
class GrabRequest:
    """A member's grab waiting to be claimed in Redis with others (``grab_together``)."""

    hot: RedisHotState
    tenant_id: int
    packet_id: int
    member_kind: ContactKind
    member_id: str


def grab_together(
    hot: RedisHotState,
    *,
    tenant_id: int,
    packet_id: int,
    member_kind: ContactKind,
    member_id: str,
) -> Together:
    """Return a grab on Redis hot state that the hot lane runs with the others waiting."""
    return Together(grabs_in_redis, GrabRequest(hot, tenant_id, packet_id, member_kind, member_id))


# The reads of ``_READ_FOR_GRAB`` for many grabs at once, answered in their order.
_READ_FOR_GRABS = Sql(
    f"""
SELECT p.id AS packet_id, {is_member_sql("p", "r.kind", "r.member")} AS is_member,
  (SELECT s.amount_fen FROM red_packet_shares s
   WHERE s.packet_id = p.id AND s.member_kind = r.kind AND s.member_id = r.member) AS held_fen
FROM unnest(CAST(:tenants AS bigint[]), CAST(:packets AS bigint[]), CAST(:kinds AS text[]),
            CAST(:members AS text[])) WITH ORDINALITY AS r(tenant, packet, kind, member, i)
LEFT JOIN red_packets p ON p.id = r.packet AND p.tenant_id = r.tenant
ORDER BY r.i
"""
)


def grabs_in_redis(grab: Attempt, requests: list[GrabRequest]) -> list[Grab | Exception]:
    """Grab for each request as ``grab_on`` does with ``hot``; answer each grab or refusal.

    On PostgreSQL, on a connection of its own: the packets and memberships of all requests in
    one read, then their claims in one Redis pipeline; a claim whose packet is not in Redis
    (``missing``) then runs alone, which loads it. Elsewhere each runs alone.
    """
    when = utcnow()
    hot = requests[0].hot
    if not (grab.is_postgresql and grab.owns_transactions) or any(
        request.hot is not hot for request in requests
    ):
        return [_grab_alone(grab, request, when) for request in requests]
    rows = _READ_FOR_GRABS.run(
        grab.connection,
        tenants=[request.tenant_id for request in requests],
        packets=[request.packet_id for request in requests],
        kinds=[request.member_kind.value for request in requests],
        members=[request.member_id for request in requests],
    ).all()
    answers: list[Grab | Exception] = []
    claiming: list[int] = []
    for index, (request, row) in enumerate(zip(requests, rows, strict=True)):
        if row.packet_id is None or not row.is_member:
            answers.append(NotFound(f"没有红包 {request.packet_id}"))
        elif row.held_fen is not None:
            answers.append(
                AlreadyGrabbed(
                    f"{request.member_id} 已抢过红包 {request.packet_id}"
                    f"（¥{format_yuan(row.held_fen)}）"
                )
            )
        else:
            answers.append(Conflict(f"红包 {request.packet_id} 的领取未完成，请重试"))
            claiming.append(index)
    claims = hot.claim_shares(
        [
            (
                requests[index].packet_id,
                member_key(requests[index].member_kind.value, requests[index].member_id),
                epoch_ms(when),
            )
            for index in claiming
        ]
    )
    for index, claim in zip(claiming, claims, strict=True):
        request = requests[index]
        if isinstance(claim, Exception):
            answers[index] = claim
        elif claim.status == "missing":  # alone: it drains the log and loads the packet
            answers[index] = _grab_alone(grab, request, when)
        else:
            answers[index] = outcome(
                partial(
                    _claimed, claim, request.packet_id, request.member_kind, request.member_id,
                    when,
                )
            )  # fmt: skip
    return answers


def _grab_alone(grab: Attempt, request: GrabRequest, when: datetime) -> Grab | Exception:
    return outcome(
        partial(
            grab_on, grab, request.tenant_id, request.packet_id, request.member_kind,
            request.member_id, when=when, hot=request.hot,
        )
    )  # fmt: skip


_SHARES_FOR_LOAD = Sql(
    """
SELECT p.expires_at, p.status, s.position, s.amount_fen, s.member_kind, s.member_id
FROM red_packets p JOIN red_packet_shares s ON s.packet_id = p.id
WHERE p.id = :packet ORDER BY s.position
"""
)


def load_packet_state(
    connection: Connection, packet_id: int, hot: RedisHotState, when: datetime | None = None
) -> bool:
    """Load a packet's shares into Redis as committed SQL has them (unless already loaded).

    Drain the log into SQL first (``persist.drain_all``), or grabs not yet applied are lost.
    """
    rows = _SHARES_FOR_LOAD.run(connection, packet=packet_id).all()
    if not rows:
        return False
    return hot.load_packet(
        packet_id,
        expires_ms=epoch_ms(read_time(rows[0].expires_at)),
        is_open=rows[0].status == PacketStatus.OPEN.value,
        free=[(row.position, row.amount_fen) for row in rows if row.member_id is None],
        held=[
            (member_key(row.member_kind, row.member_id), row.position, row.amount_fen)
            for row in rows
            if row.member_id is not None
        ],
        now_ms=epoch_ms(when or utcnow()),
    )


# --- expiry -------------------------------------------------------------------------------


def do_expire_red_packets(
    session: Session,
    tenant: Tenant,
    *,
    when: datetime | None = None,
    hot: RedisHotState | None = None,
) -> list[RedPacket]:
    """Close the tenant's open packets past their expiry and return what was not grabbed.

    The remainder goes back to the month budget that paid the packet (or, for a relay round,
    stops the relay and returns its reservation). With ``hot`` the packets are closed in Redis
    first and the log applied, so that no grab Redis acknowledged is refunded. Return the
    packets expired now.
    """
    when = when or utcnow()
    due = session.scalars(
        select(RedPacket.id).where(
            RedPacket.tenant_id == tenant.id,
            RedPacket.status == PacketStatus.OPEN,
            RedPacket.expires_at <= when,
        )
    ).all()
    if hot is not None and due:
        from qunyun.activation import persist

        for packet_id in due:
            hot.close_packet(packet_id)
        # grabs Redis took before it closed must be counted before the remainder is refunded
        persist.catch_up(in_session(session), hot)
    expired = []
    for packet_id in due:
        closed = session.execute(
            update(RedPacket)
            .where(RedPacket.id == packet_id, RedPacket.status == PacketStatus.OPEN)
            .values(
                status=PacketStatus.EXPIRED,
                refunded_fen=RedPacket.total_fen - RedPacket.grabbed_fen,
                closed_at=when,
            )
            .returning(RedPacket.id)
        ).first()
        if closed is None:  # finished by a grab meanwhile
            continue
        packet = session.get_one(RedPacket, packet_id, populate_existing=True)
        if packet.relay_id is not None:
            _stop_relay(session, tenant, packet.relay_id, packet.refunded_fen, when)
        elif packet.budget_month is not None:
            _refund(session, tenant, packet.group_id, packet.budget_month, packet.refunded_fen)
        expired.append(packet)
    return expired


# --- reads --------------------------------------------------------------------------------


def red_packet_detail(
    session: Session, tenant: Tenant, packet_id: int, hot: RedisHotState | None = None
) -> PacketView:
    """Return a packet with its grabs in grab order; raise NotFound when not the tenant's.

    With ``hot`` the grabs Redis acknowledged and SQL has not applied yet are applied first.
    """
    if hot is not None:
        from qunyun.activation import persist

        persist.catch_up(in_session(session), hot)
    packet = session.scalar(
        select(RedPacket).where(RedPacket.id == packet_id, RedPacket.tenant_id == tenant.id)
    )
    if packet is None:
        raise NotFound(f"没有红包 {packet_id}")
    shares = session.scalars(
        select(RedPacketShare)
        .where(RedPacketShare.packet_id == packet_id, RedPacketShare.member_id.is_not(None))
        .order_by(RedPacketShare.grabbed_at, RedPacketShare.position)
    ).all()
    grabs = [
        Grab(
            packet_id=packet_id,
            position=share.position,
            amount_fen=share.amount_fen,
            member_kind=share.member_kind,
            member_id=share.member_id,
            grabbed_at=share.grabbed_at,
            is_best_luck=share.is_best_luck,
        )
        for share in shares
        if share.member_kind is not None and share.member_id is not None and share.grabbed_at
    ]
    grabs.sort(key=lambda grab: grab.position)
    return PacketView(
        id=packet.id,
        group_id=packet.group_id,
        total_fen=packet.total_fen,
        count=packet.count,
        remaining_fen=packet.total_fen - sum(grab.amount_fen for grab in grabs),
        status=packet.status,
        grabs=grabs,
        relay_id=packet.relay_id,
        relay_round=packet.relay_round,
    )


# --- 红包接龙 relays ----------------------------------------------------------------------


def do_start_relay(
    session: Session,
    tenant: Tenant,
    group_id: str,
    total_fen: int,
    count: int,
    rounds: int,
    *,
    sender_kind: ContactKind = ContactKind.STAFF,
    sender_id: str = "hq",
    when: datetime | None = None,
    rng: random.Random | None = None,
) -> RedPacketRelay:
    """Start a 红包接龙 of ``rounds`` packets and send round 1.

    The group's budget pays all rounds now (``rounds × total_fen``), so that a relay never
    stalls for money; what is not sent or not grabbed returns when it ends. Raise what
    ``check_create_red_packet`` raises, InvalidInput for fewer than 1 round, and
    BudgetExceeded when the budget cannot pay every round.
    """
    when = when or utcnow()
    if rounds < 1:
        raise InvalidInput("接龙轮数至少为 1")
    rule = check_create_red_packet(session, tenant, group_id, total_fen, count, when)
    month = budget_month(when, tenant.timezone)
    _spend(session, tenant, group_id, month, total_fen * rounds, rule.monthly_budget_fen)
    relay = RedPacketRelay(
        tenant_id=tenant.id,
        group_id=group_id,
        total_fen=total_fen,
        count=count,
        rounds=rounds,
        rounds_sent=1,
        status=RelayStatus.RUNNING,
        budget_month=month,
        refunded_fen=0,
        created_at=when,
    )
    session.add(relay)
    session.flush()
    _send(
        session,
        tenant,
        group_id,
        total_fen,
        count,
        sender_kind,
        sender_id,
        when,
        timedelta(minutes=rule.expiry_minutes),
        rng,
        budget_month_paid=None,
        relay=relay,
    )
    return relay


def tenant_relay(session: Session, tenant: Tenant, relay_id: int) -> RedPacketRelay:
    """Return the tenant's relay; raise NotFound for any other id."""
    relay = session.scalar(
        select(RedPacketRelay).where(
            RedPacketRelay.id == relay_id, RedPacketRelay.tenant_id == tenant.id
        )
    )
    if relay is None:
        raise NotFound(f"没有红包接龙 {relay_id}")
    return relay


def do_send_relay_round(
    session: Session,
    tenant: Tenant,
    relay_id: int,
    member_kind: ContactKind | None = None,
    member_id: str | None = None,
    *,
    when: datetime | None = None,
    rng: random.Random | None = None,
    hot: RedisHotState | None = None,
) -> RedPacket:
    """Send the relay's next round as the member whose best luck asked them to.

    Without a member, an operator sends it on behalf of the member asked. Raise NotFound for
    an unknown relay, Ended when it is over, RoundOpen while the previous round is still
    being grabbed, NotAsked when someone else was asked and RoundSent when the round was sent
    meanwhile. A member who is not in the relay's group now is told there is no such relay
    (NotFound), as on every member path. With ``hot`` the grabs Redis acknowledged are applied
    first, so that a round grabbed empty in Redis is seen finished.
    """
    when = when or utcnow()
    if hot is not None:
        from qunyun.activation import persist  # persist reads this module's statements

        persist.catch_up(in_session(session), hot)
    relay = tenant_relay(session, tenant, relay_id)
    if member_kind is not None and member_id is not None:
        require_member(
            session, tenant, relay.group_id, member_kind, member_id, f"红包接龙 {relay_id}"
        )
    if relay.status is not RelayStatus.RUNNING:
        raise Ended(f"红包接龙 {relay_id} 已结束")
    asked_kind, asked_id = relay.next_sender_kind, relay.next_sender_id
    if asked_kind is None or asked_id is None:
        raise RoundOpen(f"红包接龙 {relay_id} 第 {relay.rounds_sent} 轮还没抢完")
    if member_id is not None and (asked_kind, asked_id) != (member_kind, member_id):
        raise NotAsked(f"红包接龙 {relay_id} 第 {relay.rounds_sent + 1} 轮应由上一轮手气最佳者发出")
    advanced = session.execute(
        update(RedPacketRelay)
        .where(
            RedPacketRelay.id == relay_id,
            RedPacketRelay.status == RelayStatus.RUNNING,
            RedPacketRelay.rounds_sent == relay.rounds_sent,
            RedPacketRelay.next_sender_id == asked_id,
        )
        .values(
            rounds_sent=RedPacketRelay.rounds_sent + 1, next_sender_kind=None, next_sender_id=None
        )
        .returning(RedPacketRelay.rounds_sent)
    ).first()
    if advanced is None:
        raise RoundSent(f"红包接龙 {relay_id} 这一轮已发出")
    session.refresh(relay)
    rule = effective_rule(session, tenant, relay.group_id)
    return _send(
        session,
        tenant,
        relay.group_id,
        relay.total_fen,
        relay.count,
        asked_kind,
        asked_id,
        when,
        timedelta(minutes=rule.expiry_minutes),
        rng,
        budget_month_paid=None,
        relay=relay,
    )


def do_stop_relay(
    session: Session, tenant: Tenant, relay_id: int, *, when: datetime | None = None
) -> RedPacketRelay:
    """Stop a relay whose asked member does not send; unsent rounds return to the budget.

    Raise NotFound for an unknown relay, Ended when it is over already and RoundOpen while a
    round is still being grabbed.
    """
    when = when or utcnow()
    relay = tenant_relay(session, tenant, relay_id)
    if relay.status is not RelayStatus.RUNNING:
        raise Ended(f"红包接龙 {relay_id} 已结束")
    open_round = session.scalar(
        select(RedPacket.id).where(
            RedPacket.relay_id == relay_id, RedPacket.status == PacketStatus.OPEN
        )
    )
    if open_round is not None:
        raise RoundOpen(f"红包接龙 {relay_id} 当前红包 {open_round} 还在抢，请等它抢完或过期")
    _stop_relay(session, tenant, relay_id, 0, when)
    session.refresh(relay)
    return relay


def _stop_relay(
    session: Session, tenant: Tenant, relay_id: int, unclaimed_fen: int, when: datetime
) -> None:
    stopped = session.execute(
        update(RedPacketRelay)
        .where(RedPacketRelay.id == relay_id, RedPacketRelay.status == RelayStatus.RUNNING)
        .values(
            status=RelayStatus.STOPPED,
            refunded_fen=(RedPacketRelay.rounds - RedPacketRelay.rounds_sent)
            * RedPacketRelay.total_fen
            + unclaimed_fen,
            closed_at=when,
        )
        .returning(
            RedPacketRelay.group_id, RedPacketRelay.budget_month, RedPacketRelay.refunded_fen
        )
    ).first()
    if stopped is not None:
        _refund(session, tenant, stopped.group_id, stopped.budget_month, stopped.refunded_fen)


# --- events for the lake ------------------------------------------------------------------


def _record_event(
    session: Session,
    tenant: Tenant,
    packet: RedPacket,
    kind: str,
    member_kind: ContactKind,
    member_id: str,
    when: datetime,
    *,
    position: int = 0,
    amount_fen: int | None = None,
) -> None:
    session.execute(
        insert(ActivationEvent).values(
            event_id=event_id(tenant.id, packet.id, position),
            tenant_id=tenant.id,
            ts=when,
            kind=kind,
            group_id=packet.group_id,
            member_kind=member_kind,
            member_id=member_id,
            red_packet_id=packet.id,
            amount_fen=packet.total_fen if amount_fen is None else amount_fen,
        )
    )
