"""Hot state in Redis: red-packet shares and flash-sale stock, claimed by Lua scripts.

With ``QUNYUN_REDIS_URL`` set, a grab or an order is first decided by one Lua script (atomic in
Redis: no other command runs in between), then persisted to SQL in the action's transaction
with the same conditional updates the SQL path uses, so SQL stays the truth and the database
constraints still hold. Redis state is a cache of SQL that can always be rebuilt from it:
every script answers ``missing`` when its keys are absent (a Redis restart, an eviction), and
the action then reloads them from SQL (``load_*`` scripts write only when the keys are still
absent, so racing loaders agree) and tries again.

What a crash can leave behind, and why it is safe:
- a claim made in Redis whose SQL transaction never committed was never acknowledged; the
  member's retry finds the claim in Redis and persists it then (a red-packet grab), or an
  attempt id replays it (a flash-sale order); a rebuild from SQL drops it;
- an action whose persistence fails returns the claim (``release_*``) before re-raising.

Keys carry a ``{…}`` hash tag per packet / sale so that a Redis Cluster keeps each
script's keys on one slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis

from qunyun.core.errors import ConfigurationError

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
return {'ok', share}
"""

_RELEASE_SHARE = """
if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('LPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
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

_BUY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
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
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[1]) end
return {'ok'}
"""

_UNBUY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'remaining', tonumber(ARGV[2]))
redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
if ARGV[3] ~= '' then redis.call('HDEL', KEYS[3], ARGV[3]) end
return 1
"""

# ARGV: remaining, limit, starts_ms, ends_ms, ttl_ms, then member, bought pairs
_LOAD_SALE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'limit', ARGV[2],
           'starts_ms', ARGV[3], 'ends_ms', ARGV[4])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
return 1
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


class RedisHotState:
    """Hot counters of activation in one Redis, under a key ``prefix``."""

    def __init__(self, client: redis.Redis, prefix: str = "qunyun:") -> None:
        self.client = client
        self.prefix = prefix
        self._claim_share = client.register_script(_CLAIM_SHARE)
        self._release_share = client.register_script(_RELEASE_SHARE)
        self._load_packet = client.register_script(_LOAD_PACKET)
        self._close = client.register_script(_CLOSE)
        self._buy = client.register_script(_BUY)
        self._unbuy = client.register_script(_UNBUY)
        self._load_sale = client.register_script(_LOAD_SALE)

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
        (member key, position, amount).
        """
        free_shares = [encode_share(position, amount) for position, amount in free]
        pairs: list[str] = []
        for member, position, amount in held:
            pairs += [member, encode_share(position, amount)]
        ttl = max(expires_ms - now_ms, 0) + KEEP_AFTER_END_MS
        args = [expires_ms, "1" if is_open else "0", ttl, len(free_shares), *free_shares, *pairs]
        return bool(self._load_packet(keys=self._packet_keys(packet_id), args=args))

    def claim_share(self, packet_id: int, member: str, now_ms: int) -> Claim:
        """Claim the next free share for ``member`` (statuses ok, already, empty, closed, missing)."""
        return _claim(self._claim_share(keys=self._packet_keys(packet_id), args=[member, now_ms]))

    def release_share(self, packet_id: int, member: str, position: int, amount_fen: int) -> None:
        """Give a claimed share back (its persistence failed)."""
        self._release_share(
            keys=self._packet_keys(packet_id), args=[member, encode_share(position, amount_fen)]
        )

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
        now_ms: int,
    ) -> bool:
        """Write a sale's stock and per-member counts as SQL has them, unless already there."""
        pairs: list[str | int] = []
        for member, units in bought:
            pairs += [member, units]
        ttl = max(ends_ms - now_ms, 0) + KEEP_AFTER_END_MS
        args = [remaining, limit, starts_ms, ends_ms, ttl, *pairs]
        return bool(self._load_sale(keys=self._sale_keys(sale_id), args=args))

    def buy(self, sale_id: int, member: str, qty: int, now_ms: int, attempt_id: str) -> Claim:
        """Take ``qty`` units for ``member``.

        Statuses: ok, replay, not_started, ended, limit_exceeded, sold_out, missing.
        """
        reply = self._buy(keys=self._sale_keys(sale_id), args=[member, qty, now_ms, attempt_id])
        # a replay answers the member key of the attempt (``store:S001``), never a share
        return Claim(str(reply[0]), value=str(reply[1]) if len(reply) > 1 else "")

    def unbuy(self, sale_id: int, member: str, qty: int, attempt_id: str) -> None:
        """Give units back (their order was not persisted)."""
        self._unbuy(keys=self._sale_keys(sale_id), args=[member, qty, attempt_id])

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
