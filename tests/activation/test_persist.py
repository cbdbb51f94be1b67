"""The Redis activation log into SQL: drains killed with SIGKILL, drains repeated or racing.

Grabs and orders here are made as the API makes them (``grab_red_packet`` /
``order_flash_sale`` on a connection of their own): acknowledged once Redis logged them, in
SQL only after a drain. 拼团 teams are opened, joined and cancelled by their scripts alone,
as by requests whose process died between the script and their commit: in the log only.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import NamedTuple

import pytest
from sqlalchemy import Engine, func, select

from qunyun.activation import persist
from qunyun.activation.common import epoch_ms
from qunyun.activation.errors import Ended, SoldOut
from qunyun.activation.flashsales import do_create_flash_sale, load_sale_state, order_flash_sale
from qunyun.activation.groupbuys import (
    AlreadyJoined,
    deal_key,
    do_create_group_buy,
    do_join_team,
    do_open_team,
    load_deal_state,
)
from qunyun.activation.hot import RedisHotState, member_key
from qunyun.activation.models import (
    ActivationEvent,
    FlashSale,
    FlashSaleBuyer,
    FlashSaleOrder,
    GroupBuy,
    GroupBuyMember,
    GroupBuyTeam,
    PacketStatus,
    RedPacket,
    RedPacketShare,
    TeamStatus,
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
TEAM_CHANGES = 8
"""Team entries in the log: T1 opened and filled by two joins, T2 opened, joined and
cancelled, T3 opened by T2's released member and joined."""
LOGGED = MEMBERS + 10 + TEAM_CHANGES


class Acknowledged(NamedTuple):
    """What Redis acknowledged and logged: a packet's grabs, a sale's orders, a deal's teams."""

    packet: int
    sale: int
    deal: int
    grabs: list[Grab]
    orders: list[int]
    teams: list[int]


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _ms(minutes: int) -> int:
    return epoch_ms(_at(minutes))


def _acknowledged(engine: Engine, tenant: Tenant, hot: RedisHotState) -> Acknowledged:
    """Return a packet, a sale and a deal with 20 grabs, 10 orders and 8 team changes logged."""
    members = group_with_members(engine, tenant, MEMBERS)
    with unit_of_work(engine) as session:
        packet = do_create_red_packet(
            session, tenant, "G1", MEMBERS * 100, MEMBERS, when=T0, rng=random.Random(5)
        ).id
        sale = do_create_flash_sale(
            session, tenant, "G1", "SKU", "秒杀", 990, 30, 2, T0, T0 + timedelta(hours=1)
        ).id
        deal = do_create_group_buy(
            session, tenant, "G1", "SKU2", "三人团", 1990, 3, 9, 30, T0, T0 + timedelta(days=1)
        )
        deal_id, key = deal.id, deal_key(deal)
    with engine.connect() as connection:  # loaded first, so that no reload drains the log
        load_packet_state(connection, packet, hot, T0)
        load_sale_state(connection, sale, hot, T0)
        load_deal_state(connection, deal_id, hot, T0)
    grabs = [
        grab_red_packet(engine, tenant.id, packet, STORE, m, when=T0, hot=hot) for m in members
    ]
    orders = [
        order_flash_sale(engine, tenant.id, sale, STORE, m, 1, when=T0, hot=hot, attempt_id=m)
        for m in members[:10]
    ]
    store = [member_key(STORE.value, m) for m in members]
    first = int(hot.open_team(key, store[0], _ms(0)).value)
    hot.join_team(key, first, store[1], _ms(1))
    hot.join_team(key, first, store[2], _ms(2))
    second = int(hot.open_team(key, store[3], _ms(3)).value)
    hot.join_team(key, second, store[4], _ms(4))
    assert hot.cancel_team(key, second, _ms(40)).status == "ok"
    third = int(hot.open_team(key, store[4], _ms(41)).value)
    hot.join_team(key, third, store[5], _ms(42))
    return Acknowledged(packet, sale, deal_id, grabs, orders, [first, second, third])


def _sql_state(engine: Engine, done: Acknowledged) -> dict[str, object]:
    packet, sale, deal = done.packet, done.sale, done.deal
    with unit_of_work(engine) as session:
        row = session.get_one(RedPacket, packet)
        deal_row = session.get_one(GroupBuy, deal)
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
            "teams": sorted(
                session.execute(
                    select(
                        GroupBuyTeam.id,
                        GroupBuyTeam.leader_id,
                        GroupBuyTeam.status,
                        GroupBuyTeam.joined,
                    ).where(GroupBuyTeam.deal_id == deal)
                ).all()
            ),
            "seats": sorted(
                session.execute(
                    select(GroupBuyMember.team_id, GroupBuyMember.member_id).where(
                        GroupBuyMember.deal_id == deal
                    )
                ).all()
            ),
            "deal": (deal_row.reserved, deal_row.sold),
        }


def _expected(done: Acknowledged) -> dict[str, object]:
    members = [f"S{number:03d}" for number in range(1, MEMBERS + 1)]
    first, second, third = done.teams
    return {
        "shares": sorted((g.member_id, g.position, g.amount_fen) for g in done.grabs),
        "packet": (MEMBERS, MEMBERS * 100, PacketStatus.FINISHED),
        "events": MEMBERS,
        "orders": Counter(
            (order, member, 1) for order, member in zip(done.orders, members, strict=False)
        ),
        "sold": 10,
        "bought": dict.fromkeys(members[:10], 1),
        "teams": [
            (first, "S001", TeamStatus.COMPLETE, 3),
            (second, "S004", TeamStatus.CANCELLED, 2),
            (third, "S005", TeamStatus.OPEN, 2),
        ],
        "seats": sorted(
            [(first, "S001"), (first, "S002"), (first, "S003"), (third, "S005"), (third, "S006")]
        ),
        "deal": (2, 3),
    }


def test_acknowledged_grabs_and_orders_reach_sql_only_through_the_log(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> None:
    done = _acknowledged(engine, tenant, hot)

    before = _sql_state(engine, done)
    drained = persist.drain(engine, hot)

    assert hot.log_length() == 0
    assert drained == LOGGED
    assert (before["packet"], before["sold"], before["events"]) == ((0, 0, PacketStatus.OPEN), 0, 0)
    assert (before["teams"], before["deal"]) == ([], (0, 0))
    assert sorted(g.position for g in done.grabs) == list(range(1, MEMBERS + 1))
    assert sum(g.amount_fen for g in done.grabs) == MEMBERS * 100
    assert len(set(done.orders)) == 10
    assert _sql_state(engine, done) == _expected(done)


@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
def test_a_drainer_killed_mid_drain_loses_and_doubles_nothing(
    engine: Engine, tenant: Tenant, hot: RedisHotState, redis_url: str, moment: str
) -> None:
    # given 20 grabs, 10 orders and 8 team changes acknowledged, in the log only
    done = _acknowledged(engine, tenant, hot)
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
    assert left_by_the_killed == redrained == LOGGED
    assert hot.log_length() == 0
    assert _sql_state(engine, done) == _expected(done)


def test_entries_applied_twice_or_by_racing_drainers_change_sql_once(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> None:
    # given the acknowledged entries, copied back into the log after a first drain
    done = _acknowledged(engine, tenant, hot)
    entries = hot.read_log(100)
    persist.drain(engine, hot)
    for entry in entries:
        hot.client.xadd(hot.log_key, entry.fields())  # type: ignore[arg-type]

    # when four drainers drain at once, without a lease
    with ThreadPoolExecutor(4) as pool:
        read = list(pool.map(lambda _: persist.drain_all(engine, hot), range(4)))

    # then nothing changed: every entry was already applied
    assert sum(read) >= len(entries) == LOGGED
    assert hot.log_length() == 0
    assert hot.set_aside_entries() == []
    assert _sql_state(engine, done) == _expected(done)


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


def test_group_buy_state_reloaded_after_a_loss_of_keys_keeps_every_seat(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> None:
    # given a deal of 6 units: team A opened and joined in SQL, then A's last seat and a team
    # B acknowledged by Redis only (their requests died before committing)
    group_with_members(engine, tenant, 8)
    with unit_of_work(engine) as session:
        deal = do_create_group_buy(
            session, tenant, "G1", "SKU2", "三人团", 1990, 3, 6, 30, T0, T0 + timedelta(days=1)
        )
        deal_id, key = deal.id, deal_key(deal)
        first = do_open_team(session, tenant, deal_id, STORE, "S001", when=T0, hot=hot).id
        do_join_team(session, tenant, first, STORE, "S002", when=T0, hot=hot)
    hot.join_team(key, first, "store:S003", _ms(1))
    second = int(hot.open_team(key, "store:S004", _ms(2)).value)

    # when Redis loses the deal's keys and the team-id sequence (not the log), and members go on
    hot.client.delete(*hot._deal_keys(key), hot._team_ids)
    with unit_of_work(engine) as session:
        joined = do_join_team(session, tenant, second, STORE, "S005", when=_at(3), hot=hot)
    with pytest.raises(AlreadyJoined), unit_of_work(engine) as session:
        do_open_team(session, tenant, deal_id, STORE, "S003", when=_at(4), hot=hot)
    with pytest.raises(Ended), unit_of_work(engine) as session:
        do_join_team(session, tenant, first, STORE, "S006", when=_at(4), hot=hot)
    with unit_of_work(engine) as session:
        third = do_open_team(session, tenant, deal_id, STORE, "S006", when=_at(5), hot=hot).id
    with pytest.raises(SoldOut), unit_of_work(engine) as session:
        do_open_team(session, tenant, deal_id, STORE, "S007", when=_at(6), hot=hot)
    persist.drain_all(engine, hot)

    # then every seat Redis gave before the loss is kept, and none is given twice
    assert (joined.id, joined.joined) == (second, 2)
    assert first < second < third
    with unit_of_work(engine) as session:
        row = session.get_one(GroupBuy, deal_id)
        seats = sorted(
            session.execute(
                select(GroupBuyMember.team_id, GroupBuyMember.member_id).where(
                    GroupBuyMember.deal_id == deal_id
                )
            ).all()
        )
        statuses = dict(
            session.execute(
                select(GroupBuyTeam.id, GroupBuyTeam.status).where(GroupBuyTeam.deal_id == deal_id)
            ).all()
        )
    assert (row.reserved, row.sold) == (3, 3)
    assert seats == [
        (first, "S001"), (first, "S002"), (first, "S003"), (second, "S004"), (second, "S005"),
        (third, "S006"),
    ]  # fmt: skip
    assert statuses == {
        first: TeamStatus.COMPLETE,
        second: TeamStatus.OPEN,
        third: TeamStatus.OPEN,
    }
    assert hot.log_length() == 0
