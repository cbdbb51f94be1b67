"""The Redis activation log into SQL: drains killed with SIGKILL, drains repeated or racing.

Grabs and orders here are made as the API makes them (``grab_red_packet`` /
``order_flash_sale`` on a connection of their own): acknowledged once Redis logged them, in
SQL only after a drain.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from qunyun.activation import persist
from qunyun.activation.flashsales import do_create_flash_sale, load_sale_state, order_flash_sale
from qunyun.activation.hot import RedisHotState
from qunyun.activation.models import (
    ActivationEvent,
    FlashSale,
    FlashSaleBuyer,
    FlashSaleOrder,
    PacketStatus,
    RedPacket,
    RedPacketShare,
)
from qunyun.activation.redpackets import (
    Grab,
    do_create_red_packet,
    grab_red_packet,
    load_packet_state,
)
from qunyun.core.db import unit_of_work
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0, group_with_members
from tests.activation.workers import drain_and_die

MEMBERS = 20


def _acknowledged(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> tuple[int, int, list[Grab], list[int]]:
    """Return a packet and a sale with 20 grabs and 10 orders acknowledged (logged only)."""
    members = group_with_members(engine, tenant, MEMBERS)
    with unit_of_work(engine) as session:
        packet = do_create_red_packet(
            session, tenant, "G1", MEMBERS * 100, MEMBERS, when=T0, rng=random.Random(5)
        ).id
        sale = do_create_flash_sale(
            session, tenant, "G1", "SKU", "秒杀", 990, 30, 2, T0, T0 + timedelta(hours=1)
        ).id
    with engine.connect() as connection:  # loaded first, so that no reload drains the log
        load_packet_state(connection, packet, hot, T0)
        load_sale_state(connection, sale, hot, T0)
    grabs = [
        grab_red_packet(engine, tenant.id, packet, STORE, m, when=T0, hot=hot) for m in members
    ]
    orders = [
        order_flash_sale(engine, tenant.id, sale, STORE, m, 1, when=T0, hot=hot, attempt_id=m)
        for m in members[:10]
    ]
    return packet, sale, grabs, orders


def _sql_state(engine: Engine, packet: int, sale: int) -> dict[str, object]:
    with unit_of_work(engine) as session:
        row = session.get_one(RedPacket, packet)
        return {
            "shares": sorted(
                session.execute(
                    select(
                        RedPacketShare.member_id, RedPacketShare.position, RedPacketShare.amount_fen
                    ).where(
                        RedPacketShare.packet_id == packet, RedPacketShare.member_id.is_not(None)
                    )
                ).all()
            ),
            "packet": (row.grabbed_count, row.grabbed_fen, row.status),
            "events": session.scalar(
                select(func.count()).where(
                    ActivationEvent.red_packet_id == packet,
                    ActivationEvent.kind == "red_packet_grab",
                )
            ),
            "orders": Counter(
                session.execute(
                    select(FlashSaleOrder.id, FlashSaleOrder.member_id, FlashSaleOrder.qty).where(
                        FlashSaleOrder.sale_id == sale
                    )
                ).all()
            ),
            "sold": session.get_one(FlashSale, sale).sold,
            "bought": dict(
                session.execute(
                    select(FlashSaleBuyer.member_id, FlashSaleBuyer.bought).where(
                        FlashSaleBuyer.sale_id == sale
                    )
                ).all()
            ),
        }


def _expected(grabs: list[Grab], orders: list[int]) -> dict[str, object]:
    members = [f"S{number:03d}" for number in range(1, MEMBERS + 1)]
    return {
        "shares": sorted((g.member_id, g.position, g.amount_fen) for g in grabs),
        "packet": (MEMBERS, MEMBERS * 100, PacketStatus.FINISHED),
        "events": MEMBERS,
        "orders": Counter(
            (order, member, 1) for order, member in zip(orders, members, strict=False)
        ),
        "sold": 10,
        "bought": dict.fromkeys(members[:10], 1),
    }


def test_acknowledged_grabs_and_orders_reach_sql_only_through_the_log(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> None:
    packet, sale, grabs, orders = _acknowledged(engine, tenant, hot)

    before = _sql_state(engine, packet, sale)
    drained = persist.drain(engine, hot)

    assert hot.log_length() == 0
    assert drained == MEMBERS + 10
    assert (before["packet"], before["sold"], before["events"]) == ((0, 0, PacketStatus.OPEN), 0, 0)
    assert sorted(g.position for g in grabs) == list(range(1, MEMBERS + 1))
    assert sum(g.amount_fen for g in grabs) == MEMBERS * 100
    assert len(set(orders)) == 10
    assert _sql_state(engine, packet, sale) == _expected(grabs, orders)


@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
def test_a_drainer_killed_mid_drain_loses_and_doubles_nothing(
    engine: Engine, tenant: Tenant, hot: RedisHotState, redis_url: str, moment: str
) -> None:
    # given 20 grabs and 10 orders acknowledged, in the log only
    packet, sale, grabs, orders = _acknowledged(engine, tenant, hot)
    url = engine.url.render_as_string(hide_password=False)

    # when a drainer process is killed with SIGKILL mid-drain, then another one drains
    process = multiprocessing.get_context("spawn").Process(
        target=drain_and_die, args=(url, redis_url, hot.prefix, moment)
    )
    process.start()
    process.join(timeout=120)
    left_by_the_killed = hot.log_length()
    leased = persist.drain(engine, hot)  # the dead drainer's lease still stands
    redrained = persist.drain_all(engine, hot)

    # then the killed drainer deleted nothing, and SQL holds everything exactly once
    assert process.exitcode == -signal.SIGKILL
    assert leased == 0
    assert left_by_the_killed == redrained == MEMBERS + 10
    assert hot.log_length() == 0
    assert _sql_state(engine, packet, sale) == _expected(grabs, orders)


def test_entries_applied_twice_or_by_racing_drainers_change_sql_once(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> None:
    # given the acknowledged entries, copied back into the log after a first drain
    packet, sale, grabs, orders = _acknowledged(engine, tenant, hot)
    entries = hot.read_log(100)
    persist.drain(engine, hot)
    for entry in entries:
        fields = {"k": entry.kind, "id": entry.target, "m": entry.member, "t": entry.at_ms}
        fields |= {"s": entry.share, "o": entry.order_id, "q": entry.qty, "a": entry.attempt_id}
        hot.client.xadd(hot.log_key, fields)  # type: ignore[arg-type]

    # when four drainers drain at once, without a lease
    with ThreadPoolExecutor(4) as pool:
        read = list(pool.map(lambda _: persist.drain_all(engine, hot), range(4)))

    # then nothing changed: every entry was already applied
    assert sum(read) >= len(entries) == MEMBERS + 10
    assert hot.log_length() == 0
    assert hot.set_aside_entries() == []
    assert _sql_state(engine, packet, sale) == _expected(grabs, orders)


def test_redis_state_reloaded_after_a_loss_of_keys_keeps_the_logged_grabs(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> None:
    # given a packet half grabbed through the log, then Redis loses the packet's keys only
    members = group_with_members(engine, tenant, 6)
    with unit_of_work(engine) as session:
        packet = do_create_red_packet(session, tenant, "G1", 600, 6, when=T0).id
    first = [
        grab_red_packet(engine, tenant.id, packet, STORE, m, when=T0, hot=hot) for m in members[:3]
    ]
    hot.client.delete(*hot._packet_keys(packet))

    # when the others grab (the reload drains the log first)
    rest = [
        grab_red_packet(engine, tenant.id, packet, STORE, m, when=T0, hot=hot) for m in members[3:]
    ]
    persist.drain(engine, hot)

    # then no share was given twice
    assert sorted(g.position for g in first + rest) == list(range(1, 7))
    assert sum(g.amount_fen for g in first + rest) == 600
    with unit_of_work(engine) as session:
        assert session.get_one(RedPacket, packet).grabbed_count == 6
