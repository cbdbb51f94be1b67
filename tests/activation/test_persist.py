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
    RedPacketRelay,
    RedPacketShare,
    TeamStatus,
)
from qunyun.activation.redpackets import (
    Grab,
    do_create_red_packet,
    do_start_relay,
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
            "order_events": sorted(
                session.execute(
                    select(
                        ActivationEvent.order_id,
                        ActivationEvent.group_id,
                        ActivationEvent.member_id,
                        ActivationEvent.amount_fen,
                    ).where(ActivationEvent.kind == "order")
                ).all()
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
        "order_events": sorted(
            [
                (f"flash_sale:{order}", "G1", member, 990)
                for order, member in zip(done.orders, members, strict=False)
            ]
            + [(f"group_buy:{first}:store:{member}", "G1", member, 1990) for member in members[:3]]
        ),
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
    assert (before["teams"], before["deal"], before["order_events"]) == ([], (0, 0), [])
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


def test_one_drain_applies_many_packets_and_sales_at_once_and_sets_aside_only_a_contradiction(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> None:
    # given a relay's round of 3 shares, a packet of 4 and two sales, loaded into Redis
    members = group_with_members(engine, tenant, 6)
    with unit_of_work(engine) as session:
        relay = do_start_relay(session, tenant, "G1", 300, 3, 2, when=T0, rng=random.Random(3))
        relay_id = relay.id
        round_one = session.scalars(
            select(RedPacket.id).where(RedPacket.relay_id == relay_id)
        ).one()
        packet = do_create_red_packet(
            session, tenant, "G1", 400, 4, when=T0, rng=random.Random(4)
        ).id
        sales = [
            do_create_flash_sale(
                session, tenant, "G1", f"SKU{n}", "秒杀", 100 * n, 20, 3, T0,
                T0 + timedelta(hours=1),
            ).id
            for n in (1, 2)
        ]  # fmt: skip
    with engine.connect() as connection:
        for packet_id in (round_one, packet):
            load_packet_state(connection, packet_id, hot, T0)
        for sale_id in sales:
            load_sale_state(connection, sale_id, hot, T0)
    # and, in the log only: S004's grab of the packet's first share again (drained before),
    # the relay's round grabbed whole, two more of the packet's shares, orders of both
    # sales, and an entry giving the first share to S006 (a Redis state not rebuilt from SQL)
    first = grab_red_packet(engine, tenant.id, packet, STORE, "S004", when=T0, hot=hot)
    again = hot.read_log(10)
    persist.drain_all(engine, hot)
    hot.client.xadd(hot.log_key, again[0].fields())  # type: ignore[arg-type]
    for member in members[:3]:
        grab_red_packet(engine, tenant.id, round_one, STORE, member, when=T0, hot=hot)
    for member in members[4:6]:
        grab_red_packet(engine, tenant.id, packet, STORE, member, when=T0, hot=hot)
    orders = [
        order_flash_sale(engine, tenant.id, sale_id, STORE, member, qty, when=T0, hot=hot)
        for sale_id in sales
        for member, qty in (("S001", 1), ("S002", 3), ("S001", 2))
    ]
    forged = {"k": "grab", "id": str(packet), "m": "store:S006", "s": f"1:{first.amount_fen}"}
    hot.client.xadd(hot.log_key, {**forged, "t": str(epoch_ms(T0))})

    # when one drain reads them all
    read = persist.drain(engine, hot)

    # then everything but the forged entry is in SQL once, and the relay asks its best luck
    assert read == 1 + 3 + 2 + 6 + 1
    assert hot.log_length() == 0
    set_aside = hot.set_aside_entries()
    assert [(fields["id"], fields["m"]) for _, fields in set_aside] == [(str(packet), "store:S006")]
    assert "属于别人" in set_aside[0][1]["reason"]
    with unit_of_work(engine) as session:
        relay_row = session.get_one(RedPacketRelay, relay_id)
        best = session.execute(
            select(RedPacketShare.member_id).where(
                RedPacketShare.packet_id == round_one, RedPacketShare.is_best_luck
            )
        ).scalar_one()
        counts = {
            packet_id: (row.grabbed_count, row.grabbed_fen, row.status)
            for packet_id in (round_one, packet)
            for row in [session.get_one(RedPacket, packet_id)]
        }
        holders = dict(
            session.execute(
                select(RedPacketShare.position, RedPacketShare.member_id).where(
                    RedPacketShare.packet_id == packet
                )
            ).all()
        )
        events = session.scalar(
            select(func.count()).where(ActivationEvent.kind == "red_packet_grab")
        )
        sold = [session.get_one(FlashSale, sale_id).sold for sale_id in sales]
        bought = sorted(
            session.execute(
                select(FlashSaleBuyer.sale_id, FlashSaleBuyer.member_id, FlashSaleBuyer.bought)
            ).all()
        )
        placed = session.scalars(select(FlashSaleOrder.id).order_by(FlashSaleOrder.id)).all()
    assert (relay_row.next_sender_kind, relay_row.next_sender_id) == (STORE, best)
    assert counts == {
        round_one: (3, 300, PacketStatus.FINISHED),
        packet: (3, 400 - _amounts(engine, packet)[3], PacketStatus.OPEN),
    }
    assert holders == {1: "S004", 2: "S005", 3: "S006", 4: None}
    assert events == 6
    assert sold == [6, 6]
    assert bought == [
        (sales[0], "S001", 3), (sales[0], "S002", 3), (sales[1], "S001", 3),
        (sales[1], "S002", 3),
    ]  # fmt: skip
    assert placed == sorted(orders)


def _amounts(engine: Engine, packet_id: int) -> list[int]:
    with unit_of_work(engine) as session:
        return list(
            session.scalars(
                select(RedPacketShare.amount_fen)
                .where(RedPacketShare.packet_id == packet_id)
                .order_by(RedPacketShare.position)
            )
        )
