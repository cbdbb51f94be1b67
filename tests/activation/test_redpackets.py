from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from qunyun.activation import persist
from qunyun.activation.common import epoch_ms
from qunyun.activation.errors import AlreadyGrabbed, BudgetExceeded, Ended, PacketEmpty
from qunyun.activation.events import do_mark_events_exported, pending_events
from qunyun.activation.hot import RedisHotState, member_key
from qunyun.activation.models import (
    PacketStatus,
    RedPacket,
    RedPacketRelay,
    RedPacketShare,
    RelayStatus,
)
from qunyun.activation.redpackets import (
    Rule,
    budget_left,
    do_create_red_packet,
    do_expire_red_packets,
    do_grab_red_packet,
    do_send_relay_round,
    do_set_rule,
    do_start_relay,
    red_packet_detail,
)
from qunyun.core.db import unit_of_work
from qunyun.core.errors import Conflict, InvalidInput, NotFound
from qunyun.groups.actions import do_leave
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0, group_with_members, path_state


@pytest.fixture(params=["sql", "redis"])
def path(request: pytest.FixtureRequest) -> RedisHotState | None:
    return path_state(request)


def _send(engine: Engine, tenant: Tenant, total: int, count: int, seed: int = 7) -> int:
    with unit_of_work(engine) as session:
        packet = do_create_red_packet(
            session, tenant, "G1", total, count, when=T0, rng=random.Random(seed)
        )
        return packet.id


def _grab(
    engine: Engine, tenant: Tenant, packet_id: int, member: str, hot: RedisHotState | None
) -> tuple[int, int]:
    with unit_of_work(engine) as session:
        grab = do_grab_red_packet(
            session, tenant, packet_id, STORE, member, when=T0 + timedelta(minutes=1), hot=hot
        )
    return grab.position, grab.amount_fen


def test_a_packet_is_grabbed_once_each_and_sums_to_its_total(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    hot = path
    # given a group of 6 and a packet of ¥10.00 in 5 shares
    members = group_with_members(engine, tenant, 6)
    packet_id = _send(engine, tenant, 1000, 5)
    with unit_of_work(engine) as session:
        shares = session.scalars(
            select(RedPacketShare.amount_fen)
            .where(RedPacketShare.packet_id == packet_id)
            .order_by(RedPacketShare.position)
        ).all()

    # when five members grab, the first twice, and the sixth comes late
    grabs = [_grab(engine, tenant, packet_id, member, hot) for member in members[:5]]
    with (
        pytest.raises(AlreadyGrabbed, match=rf"^S001 已抢过红包 {packet_id}（¥\d+\.\d\d）$"),
        unit_of_work(engine) as s,
    ):
        do_grab_red_packet(s, tenant, packet_id, STORE, "S001", when=T0, hot=hot)
    with pytest.raises(PacketEmpty, match=r"已被抢完$"), unit_of_work(engine) as s:
        do_grab_red_packet(s, tenant, packet_id, STORE, "S006", when=T0, hot=hot)

    # then positions follow grab order, amounts are the drawn shares, and nothing is left
    assert grabs == list(zip(range(1, 6), shares, strict=True))
    assert sum(amount for _, amount in grabs) == 1000
    with unit_of_work(engine) as session:
        view = red_packet_detail(session, tenant, packet_id)
    assert (view.remaining_fen, view.status, len(view.grabs)) == (0, PacketStatus.FINISHED, 5)
    assert [grab.member_id for grab in view.grabs] == members[:5]
    assert sum(grab.is_best_luck for grab in view.grabs) == 1


def test_only_current_members_of_the_group_may_grab(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    hot = path
    group_with_members(engine, tenant, 3)
    packet_id = _send(engine, tenant, 300, 3)
    with unit_of_work(engine) as session:
        do_leave(session, tenant, "G1", STORE, "S003", T0)

    with pytest.raises(NotFound, match=rf"^没有红包 {packet_id}$"):
        _grab(engine, tenant, packet_id, "S003", hot)
    with pytest.raises(NotFound, match=rf"^没有红包 {packet_id}$"):
        _grab(engine, tenant, packet_id, "S999", hot)
    with pytest.raises(NotFound, match=r"^没有红包 1000000000$"):
        _grab(engine, tenant, 10**9, "S001", hot)


def test_budget_limits_sending_and_expiry_returns_the_remainder(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    hot = path
    # given a group rule of ¥20 a month
    group_with_members(engine, tenant, 3)
    with unit_of_work(engine) as session:
        do_set_rule(
            session,
            tenant,
            Rule(2000, 100, 2000, 1, 10, "08:00", "22:00", 60, scope="G1"),
        )
    packet_id = _send(engine, tenant, 1500, 3)

    # when a second packet would pass the budget
    with pytest.raises(BudgetExceeded, match=r"剩余 ¥5.00，需要 ¥10.00$"):
        _send(engine, tenant, 1000, 2)
    # and one member grabs before the packet expires unfinished
    _, amount = _grab(engine, tenant, packet_id, "S001", hot)
    with unit_of_work(engine) as session:
        expired = do_expire_red_packets(session, tenant, when=T0 + timedelta(hours=2), hot=hot)
        refunded = [(packet.id, packet.refunded_fen) for packet in expired]
        left = budget_left(session, tenant, "G1", T0)

    # then the remainder returns to the month budget and no more grabs are possible
    assert refunded == [(packet_id, 1500 - amount)]
    assert left == 2000 - amount
    with pytest.raises(Ended, match=r"已过期$"), unit_of_work(engine) as session:
        do_grab_red_packet(session, tenant, packet_id, STORE, "S002", when=T0, hot=hot)


def test_rules_bound_amounts_counts_and_hours(engine: Engine, tenant: Tenant) -> None:
    group_with_members(engine, tenant, 2)

    with pytest.raises(InvalidInput, match=r"^红包金额应在 ¥1.00–¥200.00 之间（收到 ¥0.50）$"):
        _send(engine, tenant, 50, 1)
    with pytest.raises(InvalidInput, match=r"^红包个数应在 1–200 之间（收到 201）$"):
        _send(engine, tenant, 10000, 201)
    with (
        pytest.raises(InvalidInput, match=r"不在发红包时段 08:00–22:00 内$"),
        unit_of_work(engine) as session,
    ):
        do_create_red_packet(session, tenant, "G1", 100, 1, when=T0 + timedelta(hours=13))
    with (
        pytest.raises(InvalidInput, match=r"最多个数不能超过最大金额"),
        unit_of_work(engine) as session,
    ):
        do_set_rule(session, tenant, Rule(100, 1, 5, 1, 10, "08:00", "22:00", 60))


def test_send_and_grab_events_wait_in_the_outbox_for_the_lake(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    hot = path
    group_with_members(engine, tenant, 2)
    packet_id = _send(engine, tenant, 200, 2)
    _grab(engine, tenant, packet_id, "S002", hot)

    with unit_of_work(engine) as session:
        events = pending_events(session, tenant)
        do_mark_events_exported(session, tenant, [event.event_id for event in events[:1]])
    with unit_of_work(engine) as session:
        left = pending_events(session, tenant)

    assert [(e.kind, e.member_id, e.red_packet_id, e.group_id) for e in events] == [
        ("red_packet_send", "hq", packet_id, "G1"),
        ("red_packet_grab", "S002", packet_id, "G1"),
    ]
    assert events[0].amount_fen == 200
    assert events[0].ts == T0
    assert [event.kind for event in left] == ["red_packet_grab"]


def test_relay_asks_the_best_luck_grabber_for_the_next_round(
    engine: Engine, tenant: Tenant, path: RedisHotState | None
) -> None:
    hot = path
    # given a relay of 2 rounds of ¥3 in 3 shares
    members = group_with_members(engine, tenant, 4)
    with unit_of_work(engine) as session:
        relay = do_start_relay(session, tenant, "G1", 300, 3, 2, when=T0, rng=random.Random(1))
        relay_id = relay.id
        first_id = session.scalars(select(RedPacket.id).where(RedPacket.relay_id == relay_id)).one()
        left_after_start = budget_left(session, tenant, "G1", T0)

    # when round 1 is grabbed by three members
    for member in members[:3]:
        _grab(engine, tenant, first_id, member, hot)
    with unit_of_work(engine) as session:
        grabs = red_packet_detail(session, tenant, first_id).grabs
    best = next(grab for grab in grabs if grab.is_best_luck)
    other = next(member for member in members if member != best.member_id)

    # then only the best-luck grabber may send round 2, and the relay ends after it
    with pytest.raises(Conflict, match=r"应由上一轮手气最佳者发出$"), unit_of_work(engine) as s:
        do_send_relay_round(s, tenant, relay_id, STORE, other, when=T0)
    with unit_of_work(engine) as session:
        second = do_send_relay_round(session, tenant, relay_id, STORE, best.member_id, when=T0)
        second_id = second.id
    for member in members[:3]:
        _grab(engine, tenant, second_id, member, hot)
    with unit_of_work(engine) as session:
        relay = session.get_one(RedPacketRelay, relay_id)
        assert (relay.status, relay.rounds_sent) == (RelayStatus.DONE, 2)
        assert budget_left(session, tenant, "G1", T0) == left_after_start == 100_000 - 600


def test_a_claim_made_in_redis_whose_process_died_is_persisted_from_the_log_once(
    engine: Engine, tenant: Tenant, request: pytest.FixtureRequest
) -> None:
    hot: RedisHotState = request.getfixturevalue("hot")
    group_with_members(engine, tenant, 3)
    packet_id = _send(engine, tenant, 300, 3)
    _grab(engine, tenant, packet_id, "S001", hot)

    # given S002's claim reached Redis (and its log) but its process died before answering
    lost = hot.claim_share(packet_id, member_key("store", "S002"), epoch_ms(T0))

    # when the log is drained, twice
    drained = [persist.drain(engine, hot), persist.drain(engine, hot)]

    # then SQL holds exactly that share once, and S002's retry is refused
    with unit_of_work(engine) as session:
        view = red_packet_detail(session, tenant, packet_id)
    assert drained == [2, 0]
    assert [(g.member_id, g.position, g.amount_fen) for g in view.grabs][1] == (
        "S002",
        lost.position,
        lost.amount_fen,
    )
    assert len(view.grabs) == 2
    with pytest.raises(AlreadyGrabbed), unit_of_work(engine) as session:
        do_grab_red_packet(session, tenant, packet_id, STORE, "S002", when=T0, hot=hot)
    assert lost.position == 2
    assert hot.log_length() == 0


def test_redis_state_is_rebuilt_from_sql_after_a_loss(
    engine: Engine, tenant: Tenant, request: pytest.FixtureRequest
) -> None:
    hot: RedisHotState = request.getfixturevalue("hot")
    members = group_with_members(engine, tenant, 4)
    packet_id = _send(engine, tenant, 400, 4)
    first = [_grab(engine, tenant, packet_id, member, hot) for member in members[:2]]

    # when Redis loses every key (restart without persistence)
    hot.clear()

    # then grabs go on from SQL: no second share for S001, the rest for the others
    with pytest.raises(AlreadyGrabbed), unit_of_work(engine) as session:
        do_grab_red_packet(session, tenant, packet_id, STORE, "S001", when=T0, hot=hot)
    rest = [_grab(engine, tenant, packet_id, member, hot) for member in members[2:]]
    assert [position for position, _ in first + rest] == [1, 2, 3, 4]
    assert sum(amount for _, amount in first + rest) == 400
