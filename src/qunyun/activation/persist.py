"""Apply the Redis activation log to SQL: idempotent, in batches, by any number of drainers.

With Redis hot counters a grab or an order is acknowledged as soon as its Lua script has
decided it and appended it to the log (``hot``). This module moves the log into SQL:

- ``apply_grabs`` / ``apply_orders`` write entries in the caller's transaction. Each change
  applies only once: a share takes its member only while it has none (``member_id IS NULL``),
  an order row is inserted with the id Redis gave it (``ON CONFLICT DO NOTHING``) with its
  ``order`` event (``order_events``), and the totals (a packet's grabbed count and fen, a
  sale's units sold, a buyer's units) rise only by what this transaction newly applied. Entries commute, so their order does not matter. On
  PostgreSQL all the grabs are one statement, and all the orders another.
- ``apply_team_changes`` writes a 拼团 team's opening, joins and cancellation, which do not
  commute, in log order (its docstring says why that is safe); the join that completes a
  team writes its members' ``order`` events.
- ``drain`` applies the oldest entries in one transaction, commits, and only then deletes
  them from the log. Killed before the delete, the next drain applies them again and changes
  nothing. A lease in Redis keeps drainers from doing the same work at once, but correctness
  never depends on it: racing drainers wait on each other's row locks and the second finds
  nothing left to apply.
- ``drain_all`` and ``catch_up`` bring SQL up to the log before a read or a reload of Redis
  state (a reload from SQL that missed an entry would give its share twice).
- ``Persister`` is the background drainer of an API process (started by the web app).

An entry that SQL refuses for good (it contradicts SQL: only a Redis state not rebuilt from
SQL can cause that) is moved to the ``…activation-log:failed`` stream with the reason and
logged, so that it neither blocks the log nor disappears.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from qunyun.activation.common import Attempt, Sql, db_time
from qunyun.activation.hot import LogEntry, RedisHotState
from qunyun.activation.order_events import (
    PLACED_EVENTS_POSTGRESQL,
    flash_sale_order_id,
    order_event_params,
    record_order_events,
    record_team_orders,
)
from qunyun.core.errors import Conflict

log = logging.getLogger(__name__)

BATCH = 500
"""Entries applied per transaction by a drainer."""
LEASE_SECONDS = 10.0
"""How long a drainer's lease lasts; a killed drainer's entries wait at most this long."""


@dataclass(frozen=True)
class Taken:
    """A share that Redis gave to a member: ``share`` is ``position:amount``."""

    packet_id: int
    member: str
    share: str
    at: datetime


@dataclass(frozen=True)
class Placed:
    """An order that Redis placed, with the id it gave it."""

    sale_id: int
    member: str
    qty: int
    order_id: int
    attempt_id: str
    at: datetime


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _split(member: str) -> tuple[str, str]:
    kind, _, member_id = member.partition(":")
    return kind, member_id


# --- grabs ---------------------------------------------------------------------------------

_TAKE = Sql(
    """
UPDATE red_packet_shares SET member_kind = :kind, member_id = :member, grabbed_at = :now
WHERE packet_id = :packet AND position = :position AND member_id IS NULL
RETURNING amount_fen
"""
)
_HOLDER = Sql(
    "SELECT member_kind, member_id FROM red_packet_shares "
    "WHERE packet_id = :packet AND position = :position"
)
_COUNT = Sql(
    """
UPDATE red_packets SET
  grabbed_count = grabbed_count + :grabs,
  grabbed_fen = grabbed_fen + :fen,
  status = CASE WHEN status = 'open' AND grabbed_count + :grabs = count
                THEN 'finished' ELSE status END,
  closed_at = CASE WHEN status = 'open' AND grabbed_count + :grabs = count
                   THEN :now ELSE closed_at END
WHERE id = :packet
RETURNING tenant_id, group_id, status, relay_id, grabbed_count, count
"""
)
_EVENT = Sql(
    """
INSERT INTO activation_events
  (event_id, tenant_id, ts, kind, group_id, member_kind, member_id, red_packet_id, amount_fen)
VALUES (:event_id, :tenant, :now, 'red_packet_grab', :group_id, :kind, :member, :packet, :amount)
ON CONFLICT (event_id) DO NOTHING
"""
)


# PostgreSQL: a drain's grabs in ONE statement, whatever their number: the shares taken,
# their packets' totals and their events (data-modifying CTEs), instead of a statement per
# grab and per packet. ``taken`` holds only the shares this statement gave their member, so
# the totals rise by what it newly applied, as the statements one by one did. An entry that
# took no share (applied before, or a share held by another) comes back in ``missed``.
_TAKE_ALL_POSTGRESQL = Sql(
    """
WITH r AS (
  SELECT * FROM unnest(CAST(:packets AS bigint[]), CAST(:positions AS integer[]),
                       CAST(:kinds AS text[]), CAST(:members AS text[]),
                       CAST(:moments AS timestamptz[]))
    WITH ORDINALITY AS r(packet, position, kind, member, at, i)),
taken AS (
  UPDATE red_packet_shares s SET member_kind = r.kind, member_id = r.member, grabbed_at = r.at
  FROM r
  WHERE s.packet_id = r.packet AND s.position = r.position AND s.member_id IS NULL
  RETURNING s.packet_id, s.position, s.amount_fen, s.member_kind, s.member_id, s.grabbed_at),
counted AS (
  UPDATE red_packets p SET
    grabbed_count = p.grabbed_count + t.grabs,
    grabbed_fen = p.grabbed_fen + t.fen,
    status = CASE WHEN p.status = 'open' AND p.grabbed_count + t.grabs = p.count
                  THEN 'finished' ELSE p.status END,
    closed_at = CASE WHEN p.status = 'open' AND p.grabbed_count + t.grabs = p.count
                     THEN t.last ELSE p.closed_at END
  FROM (SELECT packet_id, count(*) AS grabs, sum(amount_fen) AS fen, max(grabbed_at) AS last
        FROM taken GROUP BY packet_id) t
  WHERE p.id = t.packet_id
  RETURNING p.id, p.tenant_id, p.group_id, p.relay_id, p.grabbed_count, p.count, t.last),
event AS (
  INSERT INTO activation_events
    (event_id, tenant_id, ts, kind, group_id, member_kind, member_id, red_packet_id, amount_fen)
  SELECT md5(c.tenant_id || ':' || c.id || ':' || t.position)::uuid::text, c.tenant_id,
    t.grabbed_at, 'red_packet_grab', c.group_id, t.member_kind, t.member_id, c.id, t.amount_fen
  FROM taken t JOIN counted c ON c.id = t.packet_id
  ON CONFLICT (event_id) DO NOTHING)
SELECT (SELECT count(*) FROM taken) AS applied,
  (SELECT array_agg(r.i) FROM r WHERE NOT EXISTS (
     SELECT 1 FROM taken t WHERE t.packet_id = r.packet AND t.position = r.position
       AND t.member_kind = r.kind AND t.member_id = r.member)) AS missed,
  (SELECT array_agg(ARRAY[c.id, c.relay_id] ORDER BY c.id) FROM counted c
   WHERE c.relay_id IS NOT NULL AND c.grabbed_count = c.count) AS finished_relays,
  (SELECT array_agg(c.last ORDER BY c.id) FROM counted c
   WHERE c.relay_id IS NOT NULL AND c.grabbed_count = c.count) AS finished_at
"""
)


def apply_grabs(connection: Connection, taken: Iterable[Taken]) -> int:
    """Write the grabs that SQL does not have yet; return how many were new.

    Raise Conflict when a share is held in SQL by someone else (Redis disagrees with SQL).
    """
    grabs = list(taken)
    if not grabs:
        return 0
    if connection.dialect.name == "postgresql":
        return _apply_grabs_at_once(connection, grabs)
    from qunyun.activation.redpackets import _ASK_NEXT_SENDER, event_id

    new: dict[int, list[tuple[Taken, int, int]]] = defaultdict(list)
    for grab in grabs:
        kind, member_id = _split(grab.member)
        position = _position(grab)
        row = _TAKE.run(
            connection,
            kind=kind,
            member=member_id,
            now=db_time(connection, grab.at),
            packet=grab.packet_id,
            position=position,
        ).first()
        if row is None:
            _check_holder(connection, grab)
            continue
        new[grab.packet_id].append((grab, position, int(row.amount_fen)))
    for packet_id, applied in new.items():
        last = max(grab.at for grab, _, _ in applied)
        packet = _COUNT.run(
            connection,
            grabs=len(applied),
            fen=sum(amount for _, _, amount in applied),
            now=db_time(connection, last),
            packet=packet_id,
        ).one()
        for grab, position, amount in applied:
            kind, member_id = _split(grab.member)
            _EVENT.run(
                connection,
                event_id=event_id(packet.tenant_id, packet_id, position),
                tenant=packet.tenant_id,
                now=db_time(connection, grab.at),
                group_id=packet.group_id,
                kind=kind,
                member=member_id,
                packet=packet_id,
                amount=amount,
            )
        if packet.relay_id is not None and packet.grabbed_count == packet.count:
            _ASK_NEXT_SENDER.run(
                connection, packet=packet_id, relay=packet.relay_id, now=db_time(connection, last)
            )
    return sum(len(applied) for applied in new.values())


def _apply_grabs_at_once(connection: Connection, grabs: list[Taken]) -> int:
    """Apply grabs on PostgreSQL with ``_TAKE_ALL_POSTGRESQL``; return how many were new."""
    from qunyun.activation.redpackets import _ASK_NEXT_SENDER

    kinds, members = zip(*(_split(grab.member) for grab in grabs), strict=True)
    row = _TAKE_ALL_POSTGRESQL.run(
        connection,
        packets=[grab.packet_id for grab in grabs],
        positions=[_position(grab) for grab in grabs],
        kinds=list(kinds),
        members=list(members),
        moments=[grab.at for grab in grabs],
    ).one()
    for index in row.missed or ():
        _check_holder(connection, grabs[index - 1])
    finished = zip(row.finished_relays or (), row.finished_at or (), strict=True)
    for (packet_id, relay_id), last in finished:  # a statement of its own: it reads the shares
        _ASK_NEXT_SENDER.run(connection, packet=packet_id, relay=relay_id, now=last)
    return int(row.applied)


def _position(grab: Taken) -> int:
    return int(grab.share.split(":", 1)[0])


def _check_holder(connection: Connection, grab: Taken) -> None:
    """Raise Conflict unless the grab's share is already held by its member (applied before)."""
    position = _position(grab)
    holder = _HOLDER.run(connection, packet=grab.packet_id, position=position).first()
    if holder is None or (holder.member_kind, holder.member_id) != _split(grab.member):
        raise Conflict(f"红包 {grab.packet_id} 第 {position} 份在数据库中属于别人或不存在")


# --- orders --------------------------------------------------------------------------------

_PLACE = Sql(
    """
INSERT INTO flash_sale_orders
  (id, tenant_id, sale_id, member_kind, member_id, qty, amount_fen, attempt_id, created_at)
SELECT :order_id, s.tenant_id, s.id, :kind, :member, :qty, :qty * s.price_fen, :attempt, :now
FROM flash_sales s WHERE s.id = :sale
ON CONFLICT DO NOTHING
RETURNING id, tenant_id, amount_fen
"""
)
_SOLD = Sql("UPDATE flash_sales SET sold = sold + :qty WHERE id = :sale")
_BOUGHT = Sql(
    """
INSERT INTO flash_sale_buyers (sale_id, member_kind, member_id, bought)
VALUES (:sale, :kind, :member, :qty)
ON CONFLICT (sale_id, member_kind, member_id)
DO UPDATE SET bought = flash_sale_buyers.bought + excluded.bought
"""
)


# PostgreSQL: a drain's orders in ONE statement: the orders inserted with their Redis ids,
# their events, and the units of the orders this statement inserted added to their sales and
# buyers; the ids came from Redis, so the table's own sequence is moved past them (``last_id``).
_PLACE_ALL_POSTGRESQL = Sql(
    f"""
WITH r AS (
  SELECT * FROM unnest(CAST(:orders AS bigint[]), CAST(:sales AS bigint[]),
                       CAST(:kinds AS text[]), CAST(:members AS text[]),
                       CAST(:quantities AS integer[]), CAST(:attempts AS text[]),
                       CAST(:moments AS timestamptz[]))
    AS r(order_id, sale, kind, member, qty, attempt, at)),
placed AS (
  INSERT INTO flash_sale_orders
    (id, tenant_id, sale_id, member_kind, member_id, qty, amount_fen, attempt_id, created_at)
  SELECT r.order_id, s.tenant_id, s.id, r.kind, r.member, r.qty, r.qty * s.price_fen,
    r.attempt, r.at
  FROM r JOIN flash_sales s ON s.id = r.sale
  ORDER BY r.order_id
  ON CONFLICT DO NOTHING
  RETURNING id, tenant_id, sale_id, member_kind, member_id, qty, amount_fen, created_at),
event AS ({PLACED_EVENTS_POSTGRESQL}),
sold AS (
  UPDATE flash_sales f SET sold = f.sold + p.units
  FROM (SELECT sale_id, sum(qty) AS units FROM placed GROUP BY sale_id) p
  WHERE f.id = p.sale_id),
bought AS (
  INSERT INTO flash_sale_buyers (sale_id, member_kind, member_id, bought)
  SELECT sale_id, member_kind, member_id, sum(qty) FROM placed
  GROUP BY sale_id, member_kind, member_id
  ON CONFLICT (sale_id, member_kind, member_id)
  DO UPDATE SET bought = flash_sale_buyers.bought + excluded.bought)
SELECT coalesce(sum(qty), 0) AS units,
  CASE WHEN count(*) > 0 THEN setval(pg_get_serial_sequence('flash_sale_orders', 'id'),
    greatest(max(id), (SELECT max(id) FROM flash_sale_orders))) END AS last_id
FROM placed
"""
)


def apply_orders(connection: Connection, placed: Iterable[Placed]) -> int:
    """Write the orders that SQL does not have yet, with their units; return the units new."""
    orders = list(placed)
    if not orders:
        return 0
    if connection.dialect.name == "postgresql":
        kinds, members = zip(*(_split(order.member) for order in orders), strict=True)
        row = _PLACE_ALL_POSTGRESQL.run(
            connection,
            orders=[order.order_id for order in orders],
            sales=[order.sale_id for order in orders],
            kinds=list(kinds),
            members=list(members),
            quantities=[order.qty for order in orders],
            attempts=[order.attempt_id or None for order in orders],
            moments=[order.at for order in orders],
        ).one()
        return int(row.units)
    sold: dict[int, int] = defaultdict(int)
    bought: dict[tuple[int, str], int] = defaultdict(int)
    events: list[tuple[Placed, int, int]] = []
    for order in orders:
        kind, member_id = _split(order.member)
        row = _PLACE.run(
            connection,
            order_id=order.order_id,
            kind=kind,
            member=member_id,
            qty=order.qty,
            attempt=order.attempt_id or None,
            now=db_time(connection, order.at),
            sale=order.sale_id,
        ).first()
        if row is not None:
            sold[order.sale_id] += order.qty
            bought[(order.sale_id, order.member)] += order.qty
            events.append((order, int(row.tenant_id), int(row.amount_fen)))
    if events:
        _record_placed_events(connection, events)
    for sale_id, units in sold.items():
        _SOLD.run(connection, qty=units, sale=sale_id)
    for (sale_id, member), units in bought.items():
        kind, member_id = _split(member)
        _BOUGHT.run(connection, sale=sale_id, kind=kind, member=member_id, qty=units)
    return sum(sold.values())


_SALE_GROUP = Sql("SELECT group_id FROM flash_sales WHERE id = :sale")


def _record_placed_events(connection: Connection, placed: list[tuple[Placed, int, int]]) -> None:
    """Write the events of orders just inserted (with their tenant and amount), in one call."""
    groups = {
        sale_id: _SALE_GROUP.run(connection, sale=sale_id).scalar_one()
        for sale_id in sorted({order.sale_id for order, _, _ in placed})
    }
    record_order_events(
        connection,
        [
            order_event_params(
                connection,
                tenant_id=tenant_id,
                order_id=flash_sale_order_id(order.order_id),
                group_id=groups[order.sale_id],
                member_kind=member_kind,
                member_id=member_id,
                amount_fen=amount,
                when=order.at,
            )
            for order, tenant_id, amount in placed
            for member_kind, member_id in [_split(order.member)]
        ],
    )


# --- 拼团 teams ----------------------------------------------------------------------------

TEAM_CHANGES = frozenset({"team_open", "team_join", "team_cancel"})

# The deal's row lock first. On SQLite a write, which begins the transaction (pysqlite starts
# it at the first write): a read first would see teams that another writer then changes.
_DEAL_SQLITE = Sql(
    "UPDATE group_buys SET reserved = reserved WHERE id = :deal RETURNING tenant_id, team_size"
)
_DEAL_POSTGRESQL = Sql("SELECT tenant_id, team_size FROM group_buys WHERE id = :deal FOR UPDATE")
_OPEN_TEAM = Sql(
    """
INSERT INTO group_buy_teams
  (id, tenant_id, deal_id, leader_kind, leader_id, status, joined, deadline, created_at)
SELECT :team, d.tenant_id, d.id, :kind, :member, 'open', 1, :deadline, :now
FROM group_buys d WHERE d.id = :deal
ON CONFLICT (id) DO NOTHING
RETURNING id
"""
)
_TEAM = Sql("SELECT deal_id, leader_kind, leader_id, status FROM group_buy_teams WHERE id = :team")
_SEAT = Sql(
    """
INSERT INTO group_buy_members (team_id, member_kind, member_id, deal_id, tenant_id, joined_at)
VALUES (:team, :kind, :member, :deal, :tenant, :now)
ON CONFLICT (team_id, member_kind, member_id) DO NOTHING
RETURNING team_id
"""
)
_FILL = Sql(
    """
UPDATE group_buy_teams SET
  joined = joined + 1,
  status = CASE WHEN joined + 1 = :size THEN 'complete' ELSE status END,
  closed_at = CASE WHEN joined + 1 = :size THEN :now ELSE closed_at END
WHERE id = :team
RETURNING joined
"""
)
_CANCEL = Sql(
    """
UPDATE group_buy_teams SET status = 'cancelled', closed_at = :now
WHERE id = :team AND status = 'open'
RETURNING joined
"""
)
_RELEASE = Sql("DELETE FROM group_buy_members WHERE team_id = :team")
_STOCK = Sql(
    "UPDATE group_buys SET reserved = reserved + :reserved, sold = sold + :sold WHERE id = :deal"
)
_TEAM_IDS_POSTGRESQL = Sql(
    "SELECT setval(pg_get_serial_sequence('group_buy_teams', 'id'), "
    "(SELECT max(id) FROM group_buy_teams))"
)


def apply_team_changes(connection: Connection, entries: list[LogEntry]) -> int:
    """Write the 拼团 openings, joins and cancellations SQL does not have yet, in log order.

    Unlike grabs and orders these do not commute (a cancellation frees the units and members
    that later entries take), so they apply in the order Redis decided them, which is also
    the order in which SQL had them all along: SQL always holds a prefix of each deal's log
    (drainers apply the oldest entries first; a caller's transaction applies all up to the
    newest), and every prefix satisfies the constraints. An entry is already applied when
    its team exists (an opening), its member is seated or its team is no longer open (a
    join: a completion or a cancellation comes after every join of the team) or its team is
    no longer open (a cancellation). The deals are locked first, in id order, so that
    appliers of the same entries queue instead of deadlocking. Return how many were new.

    Raise Conflict when an entry contradicts SQL (Redis state not rebuilt from SQL).
    """
    if not entries:
        return 0
    deal_statement = _DEAL_POSTGRESQL if connection.dialect.name == "postgresql" else _DEAL_SQLITE
    deals = {}
    for deal_id in sorted({entry.target for entry in entries}):
        deals[deal_id] = deal_statement.run(connection, deal=deal_id).first()
    reserved: dict[int, int] = defaultdict(int)
    sold: dict[int, int] = defaultdict(int)
    applied = opened = 0
    for entry in entries:
        deal = deals[entry.target]
        if deal is None:
            raise Conflict(f"拼团 {entry.target} 在数据库中不存在")
        kind, member_id = _split(entry.member)
        now = db_time(connection, _moment(entry.at_ms))
        team = {"team": entry.team_id, "now": now}
        if entry.kind == "team_open":
            deadline = db_time(connection, _moment(entry.deadline_ms))
            if _OPEN_TEAM.run(
                connection, **team, kind=kind, member=member_id, deadline=deadline,
                deal=entry.target,
            ).first() is None:  # fmt: skip
                _check_team(connection, entry, kind, member_id)
                continue
            opened += 1
        elif entry.kind == "team_join":
            row = _TEAM.run(connection, team=entry.team_id).first()
            if row is None or row.deal_id != entry.target:
                raise Conflict(f"拼团队伍 {entry.team_id} 在数据库中不存在")
            if row.status != "open":
                continue
        elif entry.kind == "team_cancel":
            cancelled = _CANCEL.run(connection, **team).first()
            if cancelled is not None:
                _RELEASE.run(connection, team=entry.team_id)
                reserved[entry.target] -= int(cancelled.joined)
                applied += 1
            continue
        else:
            continue
        seat = {"kind": kind, "member": member_id, "deal": entry.target, "tenant": deal.tenant_id}
        if _SEAT.run(connection, **team, **seat).first() is None:
            continue
        applied += 1
        reserved[entry.target] += 1
        if entry.kind == "team_join":
            joined = int(_FILL.run(connection, **team, size=deal.team_size).scalar_one())
            if joined == deal.team_size:  # the team's units turn from reserved to sold
                reserved[entry.target] -= joined
                sold[entry.target] += joined
                record_team_orders(connection, entry.team_id, _moment(entry.at_ms))
    for deal_id in deals:
        if reserved[deal_id] or sold[deal_id]:
            _STOCK.run(connection, reserved=reserved[deal_id], sold=sold[deal_id], deal=deal_id)
    if opened and connection.dialect.name == "postgresql":
        _TEAM_IDS_POSTGRESQL.run(connection)  # ids came from Redis: keep the sequence ahead
    return applied


def _check_team(connection: Connection, entry: LogEntry, kind: str, member_id: str) -> None:
    """Raise Conflict unless the team of an opening already applied is the one it opened."""
    row = _TEAM.run(connection, team=entry.team_id).first()
    if row is None or (row.deal_id, row.leader_kind, row.leader_id) != (
        entry.target, kind, member_id
    ):  # fmt: skip
        raise Conflict(f"拼团队伍 {entry.team_id} 在数据库中属于别的拼团或团长")


# --- the log -------------------------------------------------------------------------------


def apply_entries(connection: Connection, entries: Iterable[LogEntry]) -> int:
    """Apply log entries in the connection's transaction; return how many changed SQL."""
    grabs, orders, teams = [], [], []
    for entry in entries:
        if entry.kind in TEAM_CHANGES:
            teams.append(entry)
        elif entry.kind == "grab":
            grabs.append(Taken(entry.target, entry.member, entry.share, _moment(entry.at_ms)))
        elif entry.kind == "order":
            orders.append(
                Placed(
                    entry.target,
                    entry.member,
                    entry.qty,
                    entry.order_id,
                    entry.attempt_id,
                    _moment(entry.at_ms),
                )
            )
    return (
        apply_grabs(connection, grabs)
        + apply_orders(connection, orders)
        + apply_team_changes(connection, teams)
    )


def _apply_and_delete(engine: Engine, hot: RedisHotState, entries: list[LogEntry]) -> int:
    try:
        with engine.begin() as connection:
            applied = apply_entries(connection, entries)
    except Exception:
        log.exception("activation log: a batch of %d failed; applying one by one", len(entries))
        applied = 0
        for entry in entries:
            try:
                with engine.begin() as connection:
                    applied += apply_entries(connection, [entry])
            except Exception as error:
                log.exception("activation log: entry %s refused by SQL", entry.entry_id)
                hot.set_aside(entry, f"{type(error).__name__}: {error}")
    hot.delete_log([entry.entry_id for entry in entries])
    return applied


def drain(engine: Engine, hot: RedisHotState, *, batch: int = BATCH) -> int:
    """Apply up to ``batch`` of the oldest log entries and delete them; return how many were read.

    Return 0 without work when another drainer holds the lease.
    """
    token = hot.lock_log(LEASE_SECONDS)
    if token is None:
        return 0
    try:
        entries = hot.read_log(batch)
        if entries:
            _apply_and_delete(engine, hot, entries)
        return len(entries)
    finally:
        hot.unlock_log(token)


def drain_all(engine: Engine, hot: RedisHotState) -> int:
    """Apply and delete every entry logged until now, lease or not; return how many were read."""
    last = hot.last_log_id()
    if last is None:
        return 0
    read = 0
    while True:
        entries = hot.read_log(BATCH, end=last)
        if not entries:
            return read
        _apply_and_delete(engine, hot, entries)
        read += len(entries)


def catch_up(attempt: Attempt, hot: RedisHotState) -> None:
    """Bring the attempt's view of SQL up to the log before it reads or reloads Redis state.

    On a connection of its own the log is drained (committed, deleted); in a caller's
    transaction the entries are applied there and left in the log for a drainer to delete.
    """
    if attempt.owns_transactions:
        drain_all(attempt.connection.engine, hot)
        return
    apply_logged(attempt.connection, hot)


def apply_logged(
    connection: Connection, hot: RedisHotState, keep: Callable[[LogEntry], bool] | None = None
) -> None:
    """Apply every entry logged until now (those ``keep`` keeps) in the connection's transaction.

    The entries stay in the log for a drainer to delete. Keeping a deal's 拼团 entries only
    keeps them in log order and spares the transaction the locks of grabs and orders.
    """
    last = hot.last_log_id()
    start = "-"
    while last is not None:
        entries = hot.read_log(BATCH, start=start, end=last)
        if not entries:
            return
        apply_entries(connection, [entry for entry in entries if keep is None or keep(entry)])
        start = "(" + entries[-1].entry_id


def team_changes(deal_id: int | None = None) -> Callable[[LogEntry], bool]:
    """Return a ``keep`` of ``apply_logged``: the 拼团 entries of a deal, or of every deal."""
    return lambda entry: entry.kind in TEAM_CHANGES and deal_id in (None, entry.target)


class Persister:
    """The background drainer of one API process: drains the log while it has full batches.

    After a batch short of ``BATCH`` (the log caught up) it waits ``idle_seconds`` before the
    next, so that under a crowd a drain applies what came in meanwhile in one transaction
    instead of a few entries each time: a drain's own cost (the lease, the log's read and
    delete, a transaction, on PostgreSQL one statement for the grabs and one for the orders)
    is paid per batch, in the API's process beside the attempts. The log is acknowledged
    state already; the wait only delays SQL by as much (reads catch up first, ``catch_up``).
    """

    def __init__(self, engine: Engine, hot: RedisHotState, idle_seconds: float = 0.05) -> None:
        self.engine, self.hot, self.idle_seconds = engine, hot, idle_seconds
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start draining in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="activation-persister", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current batch (its entries are committed and deleted first)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                read = drain(self.engine, self.hot)
            except Exception:
                log.exception("activation log: drain failed; retrying")
                self._stopped.wait(1.0)
                continue
            if read < BATCH:
                self._stopped.wait(self.idle_seconds)
