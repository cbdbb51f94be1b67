"""Work done by each thread or process of the concurrency tests: many attempts, one outcome each.

Every attempt is its own unit of work (its own transaction), as an API request would be.
"""

from __future__ import annotations

from datetime import timedelta

from qunyun.activation.errors import ActivationConflict
from qunyun.activation.flashsales import do_order_flash_sale
from qunyun.activation.groupbuys import do_join_team
from qunyun.activation.hot import RedisHotState
from qunyun.activation.redpackets import do_grab_red_packet
from qunyun.core.db import engine_for, unit_of_work
from qunyun.core.errors import Conflict
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0


def _hot(redis_url: str | None, prefix: str) -> RedisHotState | None:
    return None if redis_url is None else RedisHotState.from_url(redis_url, prefix)


def grab_many(
    database_url: str,
    redis_url: str | None,
    prefix: str,
    tenant_id: int,
    packet_id: int,
    members: list[str],
    times: int,
) -> list[tuple[str, str, int, int]]:
    """Grab for each member, ``times`` times; return (member, outcome, position, amount)."""
    engine = engine_for(database_url)
    hot = _hot(redis_url, prefix)
    outcomes = []
    for member in members * times:
        for _attempt in range(20):  # retry only the "stale Redis state" conflict
            try:
                with unit_of_work(engine) as session:
                    tenant = session.get_one(Tenant, tenant_id)
                    grab = do_grab_red_packet(
                        session, tenant, packet_id, STORE, member, when=T0, hot=hot
                    )
                outcomes.append((member, "ok", grab.position, grab.amount_fen))
            except ActivationConflict as refused:
                outcomes.append((member, refused.code, 0, 0))
            except Conflict:
                continue
            break
    return outcomes


def buy_many(
    database_url: str,
    redis_url: str | None,
    prefix: str,
    tenant_id: int,
    sale_id: int,
    members: list[str],
    qty: int,
    rounds: int,
) -> list[tuple[str, str, int]]:
    """Order ``qty`` units per member, ``rounds`` times each; return (member, outcome, order)."""
    engine = engine_for(database_url)
    hot = _hot(redis_url, prefix)
    outcomes = []
    for _round in range(rounds):
        for member in members:
            try:
                with unit_of_work(engine) as session:
                    tenant = session.get_one(Tenant, tenant_id)
                    order = do_order_flash_sale(
                        session,
                        tenant,
                        sale_id,
                        STORE,
                        member,
                        qty,
                        when=T0 + timedelta(minutes=1),
                        hot=hot,
                    )
                    order_id = order.id
                outcomes.append((member, "ok", order_id))
            except ActivationConflict as refused:
                outcomes.append((member, refused.code, 0))
    return outcomes


def join_many(
    database_url: str,
    redis_url: str | None,
    prefix: str,
    tenant_id: int,
    teams: list[int],
    members: list[str],
) -> list[tuple[str, int, str]]:
    """Seat each member in the first of ``teams`` that takes them; return (member, team, outcome).

    A member goes on to the next team after a full, closed or sold-out one, and stops at a
    seat or at ``already_joined``.
    """
    engine = engine_for(database_url)
    hot = _hot(redis_url, prefix)
    outcomes = []
    for member in members:
        for team in teams:
            try:
                with unit_of_work(engine) as session:
                    tenant = session.get_one(Tenant, tenant_id)
                    do_join_team(
                        session, tenant, team, STORE, member, when=T0 + timedelta(minutes=1),
                        hot=hot,
                    )  # fmt: skip
            except ActivationConflict as refused:
                outcomes.append((member, team, refused.code))
                if refused.code == "already_joined":
                    break
                continue
            outcomes.append((member, team, "ok"))
            break
    return outcomes


def drain_and_die(database_url: str, redis_url: str, prefix: str, moment: str) -> None:
    """Drain the activation log and SIGKILL this process ``before_commit`` or ``after_commit``.

    ``after_commit`` dies between the SQL commit and the deletion of the entries from the log;
    ``before_commit`` dies with the applying transaction open.
    """
    import os
    import signal

    from qunyun.activation import persist

    engine = engine_for(database_url)
    hot = RedisHotState.from_url(redis_url, prefix)
    if moment == "after_commit":
        hot.delete_log = lambda _ids: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[method-assign]
    else:
        apply = persist.apply_entries

        def apply_and_die(connection: object, entries: object) -> int:
            apply(connection, entries)  # type: ignore[arg-type]
            os.kill(os.getpid(), signal.SIGKILL)
            return 0

        persist.apply_entries = apply_and_die  # type: ignore[assignment]
    persist.drain(engine, hot)
