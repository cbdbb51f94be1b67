"""Hot state in Redis: red-packet shares, flash-sale stock and 拼团 teams, in Lua scripts.

With ``QUNYUN_REDIS_URL`` set, a grab, an order or a 拼团 team's opening, join or
cancellation is decided by one Lua script (atomic in Redis: no other command runs in
between). The same script appends what it decided to the **activation log**, a Redis stream:
the share and member of a grab, the order id, member and units of an order, the team (and
member) of a team's change. The script's answer is the acknowledgement, and from then on the
decision is as durable as Redis itself; SQL receives it from the log (``persist``),
idempotently, so that a log entry applied twice (a drainer killed between its commit and its
delete, two drainers racing) changes SQL once.

Why an acknowledged grab or order survives a ``kill -9`` of the API process: the process has
nothing of it that Redis does not have. The script returned only after the claim and its log
entry were written together; entries leave the log only after the SQL transaction that
applied them committed. A killed drainer leaves its entries in the log, and the next one (in
any API process, or ``persist.drain`` in any other) applies them again, which changes nothing
already applied.

Redis state is a cache of SQL plus the log, and can be rebuilt from them: every script
answers ``missing`` when its keys are absent (a Redis restart, an eviction), and the action
then drains the log into SQL, reloads the keys from SQL (``load_*`` scripts write only when
the keys are still absent, so racing loaders agree) and tries again. What Redis loses itself
(a Redis crash without AOF persistence) is lost: run Redis with ``appendonly yes`` (and
``appendfsync always`` for no window at all) where that matters.

Keys carry a ``{…}`` hash tag per packet / sale / deal; the log and the order-id and team-id
sequences are one key each, so on a Redis Cluster put a hash tag in ``QUNYUN_REDIS_PREFIX`` (``qunyun{a}:``),
which then holds every key on one slot.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from qunyun.core.errors import ConfigurationError

# KEYS: meta, free, grabs, log; ARGV: member, now_ms, packet id
_CLAIM_SHARE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local held = redis.call('HGET', KEYS[3], ARGV[1])
if held then return {'already', held} end
if redis.call('HGET', KEYS[1], 'open') ~= '1'
   or tonumber(ARGV[2]) >= tonumber(redis.call('HGET', KEYS[1], 'expires_ms')) then
  return {'closed'}
end
local share = redis.call('LPOP', KEYS[2])
if not share then return {'empty'} end
redis.call('HSET', KEYS[3], ARGV[1], share)
redis.call('XADD', KEYS[4], '*', 'k', 'grab', 'id', ARGV[3], 'm', ARGV[1], 's', share,
           't', ARGV[2])
return {'ok', share}
"""

# ARGV: expires_ms, open, ttl_ms, number of free shares, free shares…, then member, share pairs
_LOAD_PACKET = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'expires_ms', ARGV[1], 'open', ARGV[2])
local free = tonumber(ARGV[4])
for i = 5, 4 + free do redis.call('RPUSH', KEYS[2], ARGV[i]) end
for i = 5 + free, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
return 1
"""

_CLOSE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'open', '0')
return 1
"""

# KEYS: meta, bought, attempts, log, order-id sequence
# ARGV: member, qty, now_ms, attempt id ('' for none), sale id
_BUY = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[5]) == 0 then
  return {'missing'}
end
if ARGV[4] ~= '' then
  local replay = redis.call('HGET', KEYS[3], ARGV[4])
  if replay then return {'replay', replay} end
end
local now = tonumber(ARGV[3])
if now < tonumber(redis.call('HGET', KEYS[1], 'starts_ms')) then return {'not_started'} end
if now >= tonumber(redis.call('HGET', KEYS[1], 'ends_ms')) then return {'ended'} end
local qty = tonumber(ARGV[2])
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if bought + qty > tonumber(redis.call('HGET', KEYS[1], 'limit')) then return {'limit_exceeded'} end
if tonumber(redis.call('HGET', KEYS[1], 'remaining')) < qty then return {'sold_out'} end
redis.call('HINCRBY', KEYS[1], 'remaining', -qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
local order = redis.call('INCR', KEYS[5])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[4], order) end
redis.call('XADD', KEYS[4], '*', 'k', 'order', 'id', ARGV[5], 'm', ARGV[1], 'q', ARGV[2],
           'o', order, 'a', ARGV[4], 't', ARGV[3])
return {'ok', order}
"""

# KEYS: meta, bought, attempts, order-id sequence
# ARGV: remaining, limit, starts_ms, ends_ms, ttl_ms, last order id, number of buyers,
#       then member, bought pairs, then attempt, order id pairs
_LOAD_SALE = """
redis.call('SET', KEYS[4], ARGV[6], 'NX')
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'limit', ARGV[2],
           'starts_ms', ARGV[3], 'ends_ms', ARGV[4])
local last_buyer = 7 + 2 * tonumber(ARGV[7])
for i = 8, last_buyer, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = last_buyer + 1, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
return 1
"""

# A deal's teams live in one hash, three fields a team: ``<id>:s`` status (open, complete,
# cancelled), ``<id>:j`` members joined, ``<id>:d`` deadline (ms). ``members`` maps a member to
# the team they joined; a member whose team was cancelled is free again (nothing to release).
_HELD = """
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held and redis.call('HGET', KEYS[3], held .. ':s') ~= 'cancelled' then
  return {'already', held}
end
"""
_KEEP_WITH_META = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
"""

# KEYS: meta, members, teams, log, team-id sequence; ARGV: member, now_ms, deal id
_OPEN_TEAM = f"""
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[5]) == 0 then
  return {{'missing'}}
end
local now = tonumber(ARGV[2])
if now < tonumber(redis.call('HGET', KEYS[1], 'starts_ms')) then return {{'not_started'}} end
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends_ms'))
if now >= ends then return {{'ended'}} end
{_HELD}
if tonumber(redis.call('HGET', KEYS[1], 'free')) < 1 then return {{'sold_out'}} end
redis.call('HINCRBY', KEYS[1], 'free', -1)
local team = redis.call('INCR', KEYS[5])
local deadline = math.min(now + tonumber(redis.call('HGET', KEYS[1], 'team_ms')), ends)
redis.call('HSET', KEYS[3], team .. ':s', 'open', team .. ':j', 1, team .. ':d', deadline)
redis.call('HSET', KEYS[2], ARGV[1], team)
{_KEEP_WITH_META}
redis.call('XADD', KEYS[4], '*', 'k', 'team_open', 'id', ARGV[3], 'm', ARGV[1], 'team', team,
           'd', deadline, 't', ARGV[2])
return {{'ok', team}}
"""

# KEYS: meta, members, teams, log; ARGV: member, now_ms, deal id, team id
_JOIN_TEAM = f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return {{'missing'}} end
{_HELD}
local team = ARGV[4]
if redis.call('HGET', KEYS[3], team .. ':s') ~= 'open'
   or tonumber(ARGV[2]) >= tonumber(redis.call('HGET', KEYS[3], team .. ':d')) then
  return {{'ended'}}
end
local size = tonumber(redis.call('HGET', KEYS[1], 'size'))
if tonumber(redis.call('HGET', KEYS[3], team .. ':j')) >= size then return {{'full'}} end
if tonumber(redis.call('HGET', KEYS[1], 'free')) < 1 then return {{'sold_out'}} end
redis.call('HINCRBY', KEYS[1], 'free', -1)
local joined = redis.call('HINCRBY', KEYS[3], team .. ':j', 1)
if joined == size then redis.call('HSET', KEYS[3], team .. ':s', 'complete') end
redis.call('HSET', KEYS[2], ARGV[1], team)
{_KEEP_WITH_META}
redis.call('XADD', KEYS[4], '*', 'k', 'team_join', 'id', ARGV[3], 'm', ARGV[1], 'team', team,
           't', ARGV[2])
return {{'ok', joined}}
"""

# KEYS: meta, teams, log; ARGV: team id, now_ms, deal id
_CANCEL_TEAM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local team = ARGV[1]
if redis.call('HGET', KEYS[2], team .. ':s') ~= 'open' then return {'closed'} end
if tonumber(redis.call('HGET', KEYS[2], team .. ':d')) > tonumber(ARGV[2]) then
  return {'not_due'}
end
local joined = redis.call('HGET', KEYS[2], team .. ':j')
redis.call('HSET', KEYS[2], team .. ':s', 'cancelled')
redis.call('HINCRBY', KEYS[1], 'free', joined)
redis.call('XADD', KEYS[3], '*', 'k', 'team_cancel', 'id', ARGV[3], 'm', '', 'team', team,
           't', ARGV[2])
return {'ok', joined}
"""

# KEYS: meta, members, teams, team-id sequence
# ARGV: free, size, starts_ms, ends_ms, team_ms, ttl_ms, last team id, number of teams,
#       then (team id, status, joined, deadline_ms) of each open or complete team,
#       then member, team id pairs
_LOAD_DEAL = """
redis.call('SET', KEYS[4], ARGV[7], 'NX')
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'free', ARGV[1], 'size', ARGV[2], 'starts_ms', ARGV[3],
           'ends_ms', ARGV[4], 'team_ms', ARGV[5])
local last_team = 8 + 4 * tonumber(ARGV[8])
for i = 9, last_team, 4 do
  redis.call('HSET', KEYS[3], ARGV[i] .. ':s', ARGV[i + 1], ARGV[i] .. ':j', ARGV[i + 2],
             ARGV[i] .. ':d', ARGV[i + 3])
end
for i = last_team + 1, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

KEEP_AFTER_END_MS = 7 * 24 * 3600 * 1000
"""How long hot keys outlive their packet, sale or team (then SQL alone answers)."""


@dataclass(frozen=True)
class Claim:
    """A script's answer: ``status`` and, for shares, the ``position`` and ``amount_fen``."""

    status: str
    position: int = 0
    amount_fen: int = 0
    value: str = ""


@dataclass(frozen=True)
class DealKey:
    """What names a 拼团 deal's keys: its id and its creation (ms), as an id may come back.

    SQLite reuses the largest id of a table without AUTOINCREMENT once its row is deleted
    (a tenant's deletion), and a new deal must not find the keys of a deleted one.
    """

    deal_id: int
    created_ms: int


def member_key(member_kind: str, member_id: str) -> str:
    """Return the Redis field naming a member (``store:S0001``)."""
    return f"{member_kind}:{member_id}"


def encode_share(position: int, amount_fen: int) -> str:
    """Return a share as stored in Redis (``position:amount``)."""
    return f"{position}:{amount_fen}"


def _claim(reply: Any) -> Claim:
    status = str(reply[0])
    if len(reply) == 1:
        return Claim(status)
    value = str(reply[1])
    if ":" in value:
        position, amount = value.split(":", 1)
        return Claim(status, int(position), int(amount), value)
    return Claim(status, value=value)


@dataclass(frozen=True)
class LogEntry:
    """One decision of a script in the activation log: a grab or an order, not yet in SQL.

    ``kind`` is ``grab`` (``target`` the packet, ``share`` its ``position:amount``),
    ``order`` (``target`` the sale, ``order_id``, ``qty`` and ``attempt_id``), or a 拼团
    team's ``team_open`` (with its ``deadline_ms``), ``team_join`` or ``team_cancel``
    (``target`` the deal, ``team_id``; no member for a cancellation).
    """

    entry_id: str
    kind: str
    target: int
    member: str
    at_ms: int
    share: str = ""
    order_id: int = 0
    qty: int = 0
    attempt_id: str = ""
    team_id: int = 0
    deadline_ms: int = 0

    @classmethod
    def parse(cls, entry_id: str, fields: dict[str, str]) -> LogEntry:
        """Return the entry of a stream record's fields."""
        return cls(
            entry_id=entry_id,
            kind=fields["k"],
            target=int(fields["id"]),
            member=fields.get("m", ""),
            at_ms=int(fields["t"]),
            share=fields.get("s", ""),
            order_id=int(fields.get("o", "0")),
            qty=int(fields.get("q", "0")),
            attempt_id=fields.get("a", ""),
            team_id=int(fields.get("team", "0")),
            deadline_ms=int(fields.get("d", "0")),
        )

    def fields(self) -> dict[str, str | int]:
        """Return the stream record's fields of the entry (``parse`` reads them back)."""
        return {
            "k": self.kind,
            "id": self.target,
            "m": self.member,
            "t": self.at_ms,
            "s": self.share,
            "o": self.order_id,
            "q": self.qty,
            "a": self.attempt_id,
            "team": self.team_id,
            "d": self.deadline_ms,
        }


class RedisHotState:
    """Hot counters of activation in one Redis, under a key ``prefix``."""

    def __init__(self, client: redis.Redis, prefix: str = "qunyun:") -> None:
        self.client = client
        self.prefix = prefix
        self.log_key = f"{prefix}activation-log"
        self._order_ids = f"{prefix}fs:order-id"
        self._log_lock = f"{prefix}activation-log:lock"
        self._claim_share = client.register_script(_CLAIM_SHARE)
        self._load_packet = client.register_script(_LOAD_PACKET)
        self._close = client.register_script(_CLOSE)
        self._buy = client.register_script(_BUY)
        self._load_sale = client.register_script(_LOAD_SALE)
        self._unlock = client.register_script(_UNLOCK)
        self._team_ids = f"{prefix}gb:team-id"
        self._open_team = client.register_script(_OPEN_TEAM)
        self._join_team = client.register_script(_JOIN_TEAM)
        self._cancel_team = client.register_script(_CANCEL_TEAM)
        self._load_deal = client.register_script(_LOAD_DEAL)

    @classmethod
    def from_url(cls, url: str, prefix: str = "qunyun:") -> RedisHotState:
        """Return the hot state of the Redis at ``url`` (connections are made lazily)."""
        return cls(
            redis.Redis.from_url(
                url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
            ),
            prefix,
        )

    # --- red packets ---------------------------------------------------------------------

    def _packet_keys(self, packet_id: int) -> list[str]:
        base = f"{self.prefix}rp:{{{packet_id}}}"
        return [f"{base}:meta", f"{base}:free", f"{base}:grabs"]

    def load_packet(
        self,
        packet_id: int,
        *,
        expires_ms: int,
        is_open: bool,
        free: Iterable[tuple[int, int]],
        held: Iterable[tuple[str, int, int]],
        now_ms: int,
    ) -> bool:
        """Write a packet's state as SQL has it, unless it is already there; return if written.

        ``free`` are the unclaimed (position, amount) in position order, ``held`` the claimed
        (member key, position, amount). Drain the log into SQL first (``persist``).
        """
        free_shares = [encode_share(position, amount) for position, amount in free]
        pairs: list[str] = []
        for member, position, amount in held:
            pairs += [member, encode_share(position, amount)]
        ttl = max(expires_ms - now_ms, 0) + KEEP_AFTER_END_MS
        args = [expires_ms, "1" if is_open else "0", ttl, len(free_shares), *free_shares, *pairs]
        return bool(self._load_packet(keys=self._packet_keys(packet_id), args=args))

    def claim_share(self, packet_id: int, member: str, now_ms: int) -> Claim:
        """Claim the next free share for ``member`` and log it.

        Statuses: ok, already (with the member's share), empty, closed, missing.
        """
        keys = [*self._packet_keys(packet_id), self.log_key]
        return _claim(self._claim_share(keys=keys, args=[member, now_ms, packet_id]))

    def claim_shares(self, claims: Sequence[tuple[int, str, int]]) -> list[Claim | Exception]:
        """Claim as ``claim_share`` does for each (packet id, member, now_ms), in one round trip.

        Each claim is its own script (a pipeline, not a transaction), run in order; a claim
        whose script failed answers its error.
        """
        calls = [([*self._packet_keys(packet), self.log_key], [member, now_ms, packet])
                 for packet, member, now_ms in claims]  # fmt: skip
        replies = self._pipelined(self._claim_share, calls)
        return [reply if isinstance(reply, Exception) else _claim(reply) for reply in replies]

    def close_packet(self, packet_id: int) -> None:
        """Stop all further claims of a packet (it expired)."""
        self._close(keys=self._packet_keys(packet_id)[:1])

    # --- flash sales ---------------------------------------------------------------------

    def _sale_keys(self, sale_id: int) -> list[str]:
        base = f"{self.prefix}fs:{{{sale_id}}}"
        return [f"{base}:meta", f"{base}:bought", f"{base}:attempts"]

    def load_sale(
        self,
        sale_id: int,
        *,
        remaining: int,
        limit: int,
        starts_ms: int,
        ends_ms: int,
        bought: Iterable[tuple[str, int]],
        attempts: Iterable[tuple[str, int]] = (),
        last_order_id: int,
        now_ms: int,
    ) -> bool:
        """Write a sale's stock and per-member counts as SQL has them, unless already there.

        ``last_order_id`` (the largest order id in SQL) starts the order-id sequence when it
        is missing. Drain the log into SQL first (``persist``).
        """
        buyers: list[str | int] = []
        for member, units in bought:
            buyers += [member, units]
        replays: list[str | int] = []
        for attempt_id, order_id in attempts:
            replays += [attempt_id, order_id]
        ttl = max(ends_ms - now_ms, 0) + KEEP_AFTER_END_MS
        args = [
            remaining, limit, starts_ms, ends_ms, ttl, last_order_id, len(buyers) // 2,
            *buyers, *replays,
        ]  # fmt: skip
        keys = [*self._sale_keys(sale_id), self._order_ids]
        return bool(self._load_sale(keys=keys, args=args))

    def buy(self, sale_id: int, member: str, qty: int, now_ms: int, attempt_id: str) -> Claim:
        """Take ``qty`` units for ``member`` and log the order; ``value`` is its order id.

        Statuses: ok, replay (the attempt's earlier order), not_started, ended,
        limit_exceeded, sold_out, missing.
        """
        keys = [*self._sale_keys(sale_id), self.log_key, self._order_ids]
        reply = self._buy(keys=keys, args=[member, qty, now_ms, attempt_id, sale_id])
        return Claim(str(reply[0]), value=str(reply[1]) if len(reply) > 1 else "")

    def buy_many(self, buys: Sequence[tuple[int, str, int, int, str]]) -> list[Claim | Exception]:
        """Buy as ``buy`` does for each (sale id, member, qty, now_ms, attempt id), in one round trip.

        Each buy is its own script (a pipeline, not a transaction), run in order; a buy whose
        script failed answers its error.
        """
        calls = [
            ([*self._sale_keys(sale), self.log_key, self._order_ids],
             [member, qty, now_ms, attempt_id, sale])
            for sale, member, qty, now_ms, attempt_id in buys
        ]  # fmt: skip
        replies = self._pipelined(self._buy, calls)
        return [
            reply if isinstance(reply, Exception)
            else Claim(str(reply[0]), value=str(reply[1]) if len(reply) > 1 else "")
            for reply in replies
        ]  # fmt: skip

    def _pipelined(self, script: Script, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Run ``script`` once per (keys, args) in one pipeline; return each reply or its error.

        A script Redis no longer knows (restarted, ``SCRIPT FLUSH``) did not run: those calls
        run again one by one, which loads it.
        """
        pipeline = self.client.pipeline(transaction=False)
        for keys, args in calls:
            pipeline.evalsha(script.sha, len(keys), *keys, *args)
        replies: list[Any] = pipeline.execute(raise_on_error=False)
        for index, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                keys, args = calls[index]
                try:
                    replies[index] = script(keys=keys, args=args)
                except redis.ResponseError as error:
                    replies[index] = error
        return replies

    # --- group-buys (拼团) ---------------------------------------------------------------

    def _deal_keys(self, deal: DealKey) -> list[str]:
        base = f"{self.prefix}gb:{{{deal.deal_id}}}:{deal.created_ms}"
        return [f"{base}:meta", f"{base}:members", f"{base}:teams"]

    def load_deal(
        self,
        deal: DealKey,
        *,
        free: int,
        team_size: int,
        starts_ms: int,
        ends_ms: int,
        team_ms: int,
        teams: Iterable[tuple[int, str, int, int]],
        members: Iterable[tuple[str, int]],
        last_team_id: int,
        now_ms: int,
    ) -> bool:
        """Write a deal's free units, teams and members as SQL has them, unless already there.

        ``teams`` are the (id, status, joined, deadline ms) of its open and complete teams,
        ``members`` the (member key, team id) of their members. ``last_team_id`` (the largest
        team id in SQL) starts the team-id sequence when it is missing. Drain the log into
        SQL first (``persist``).
        """
        quads: list[str | int] = []
        count = 0
        for team_id, status, joined, deadline_ms in teams:
            quads += [team_id, status, joined, deadline_ms]
            count += 1
        pairs: list[str | int] = []
        for member, team_id in members:
            pairs += [member, team_id]
        ttl = max(ends_ms - now_ms, 0) + KEEP_AFTER_END_MS
        args = [
            free, team_size, starts_ms, ends_ms, team_ms, ttl, last_team_id, count,
            *quads, *pairs,
        ]  # fmt: skip
        keys = [*self._deal_keys(deal), self._team_ids]
        return bool(self._load_deal(keys=keys, args=args))

    def open_team(self, deal: DealKey, member: str, now_ms: int) -> Claim:
        """Open a team led by ``member`` holding one unit, and log it; ``value`` is its id.

        Statuses: ok, already (with the member's team), not_started, ended, sold_out, missing.
        """
        keys = [*self._deal_keys(deal), self.log_key, self._team_ids]
        return _claim(self._open_team(keys=keys, args=[member, now_ms, deal.deal_id]))

    def join_team(self, deal: DealKey, team_id: int, member: str, now_ms: int) -> Claim:
        """Seat ``member`` in an open team with one unit, and log it; ``value`` is the count.

        The seat that fills the team completes it. Statuses: ok, already (with the member's
        team), ended (closed or past its deadline), full, sold_out, missing.
        """
        keys = [*self._deal_keys(deal), self.log_key]
        return _claim(self._join_team(keys=keys, args=[member, now_ms, deal.deal_id, team_id]))

    def cancel_team(self, deal: DealKey, team_id: int, now_ms: int) -> Claim:
        """Cancel an open team past its deadline, free its units, and log it.

        Statuses: ok (``value`` the members released), closed (not open), not_due, missing.
        """
        meta, _, teams = self._deal_keys(deal)
        keys = [meta, teams, self.log_key]
        return _claim(self._cancel_team(keys=keys, args=[team_id, now_ms, deal.deal_id]))

    # --- the activation log --------------------------------------------------------------

    def read_log(self, count: int, start: str = "-", end: str = "+") -> list[LogEntry]:
        """Return up to ``count`` of the oldest entries between ``start`` and ``end`` (ids)."""
        records: Any = self.client.xrange(self.log_key, min=start, max=end, count=count)
        return [LogEntry.parse(entry_id, fields) for entry_id, fields in records]

    def last_log_id(self) -> str | None:
        """Return the id of the newest entry, or None when the log is empty."""
        newest = self.client.xrevrange(self.log_key, count=1)
        return str(newest[0][0]) if newest else None

    def set_aside(self, entry: LogEntry, reason: str) -> None:
        """Keep an entry that SQL refused in the ``…:failed`` stream, with the reason."""
        fields = {"entry": entry.entry_id, **entry.fields(), "reason": reason[:500]}
        self.client.xadd(f"{self.log_key}:failed", fields)  # type: ignore[arg-type]

    def set_aside_entries(self) -> list[tuple[str, dict[str, str]]]:
        """Return the entries SQL refused, oldest first (for an operator to look at)."""
        records: Any = self.client.xrange(f"{self.log_key}:failed")
        return [(str(entry_id), dict(fields)) for entry_id, fields in records]

    def delete_log(self, entry_ids: list[str]) -> None:
        """Delete entries that a committed SQL transaction applied."""
        if entry_ids:
            self.client.xdel(self.log_key, *entry_ids)

    def log_length(self) -> int:
        """Return how many entries wait to be applied to SQL."""
        return int(self.client.xlen(self.log_key))

    def lock_log(self, seconds: float) -> str | None:
        """Take the drainer's lease for ``seconds``; return its token, or None when taken.

        The lease only saves duplicate work: applying an entry twice is harmless.
        """
        token = uuid.uuid4().hex
        taken = self.client.set(self._log_lock, token, nx=True, px=int(seconds * 1000))
        return token if taken else None

    def unlock_log(self, token: str) -> None:
        """Give the drainer's lease back (only if it is still this token's)."""
        self._unlock(keys=[self._log_lock], args=[token])

    # --- housekeeping --------------------------------------------------------------------

    def clear(self) -> int:
        """Delete every key under the prefix (tests, and a forced rebuild from SQL)."""
        removed = 0
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            removed += self.client.delete(key)
        return removed


@cache
def _hot_state_for(url: str, prefix: str) -> RedisHotState:
    return RedisHotState.from_url(url, prefix)


def hot_state() -> RedisHotState | None:
    """Return the configured Redis hot state (``QUNYUN_REDIS_URL``), or None for SQL only.

    Raise ConfigurationError when Redis is configured but does not answer.
    """
    from qunyun.core.settings import get_settings

    settings = get_settings()
    url = settings.redis_url
    if url is None:
        return None
    state = _hot_state_for(url, settings.redis_prefix)
    try:
        state.client.ping()
    except redis.RedisError as error:
        raise ConfigurationError(f"无法连接 Redis {url!r}: {error}") from error
    return state
