"""The hot lane: attempts committed in groups, each answered as if alone, only after its commit.

On SQLite and PostgreSQL (the ``engine`` fixture runs both): a batch whose attempts are refused
for different reasons, a batch with an attempt that fails in the database (which aborts a
PostgreSQL transaction) or is refused after a first write, a crowd of threads on one lane,
and a lane killed (``kill -9``) in the middle of a batch.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from qunyun.activation.common import Attempt, Sql, Statement, attempt
from qunyun.activation.errors import (
    ActivationConflict,
    AlreadyGrabbed,
    LimitExceeded,
    NotStarted,
    PacketEmpty,
    SoldOut,
)
from qunyun.activation.flashsales import (
    OrderRequest,
    do_create_flash_sale,
    flash_sale_detail,
    load_sale_state,
    order_in_batch,
    order_on,
    order_together,
    orders_in_redis,
)
from qunyun.activation.hot import RedisHotState
from qunyun.activation.lane import HotLane, OneStatement
from qunyun.activation.models import FlashSaleBuyer, PacketStatus, RedPacket, RedPacketShare
from qunyun.activation.operations import relay_detail
from qunyun.activation.persist import drain_all
from qunyun.activation.redpackets import (
    DEFAULT_RULE,
    Grab,
    do_create_red_packet,
    do_set_rule,
    do_start_relay,
    grab_in_batch,
    grab_on,
    grab_together,
    load_packet_state,
    red_packet_detail,
)
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.core.errors import Conflict, InvalidInput, NotFound
from qunyun.groups.actions import do_leave
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0, group_with_members


@pytest.fixture
def lane(engine: Engine) -> Any:
    """Return a hot lane on the test database, closed afterwards."""
    hot_lane = HotLane(engine)
    yield hot_lane
    hot_lane.close()


def _packet(engine: Engine, tenant: Tenant, total_fen: int, count: int) -> int:
    with unit_of_work(engine) as session:
        packet = do_create_red_packet(
            session, tenant, "G1", total_fen, count, when=T0, rng=random.Random(5)
        )
        return packet.id


def _grab(
    tenant: Tenant, packet: int, member: str, *, one_statement: bool = False
) -> Callable[[Attempt], Grab]:
    """Return a grab at T0: the whole attempt, or as the API hands it (``grab_in_batch``)."""
    arguments: dict[str, Any] = {
        "tenant_id": tenant.id, "packet_id": packet, "member_kind": STORE, "member_id": member,
        "when": T0,
    }  # fmt: skip
    return grab_in_batch(**arguments) if one_statement else partial(grab_on, **arguments)


ATTEMPT_FORMS = pytest.mark.parametrize(
    "one_statement", [False, True], ids=["whole-attempts", "one-statement-attempts"]
)
"""The lane's attempts as plain functions (run one after the other) and as the API hands them
(``OneStatement``: on PostgreSQL a batch of them goes in one pipeline)."""


def _outcome(future: Any) -> Any:
    """Return ``(position, amount)`` of an answered grab, or the type of its refusal."""
    error = future.exception(timeout=60)
    if error is not None:
        return type(error)
    grab = future.result()
    return grab.position, grab.amount_fen


@ATTEMPT_FORMS
def test_a_batch_answers_each_attempt_as_if_alone_and_commits_the_rest(
    engine: Engine, tenant: Tenant, lane: HotLane, one_statement: bool
) -> None:
    # given 5 members and a packet of ¥10.00 in 4 shares
    group_with_members(engine, tenant, 5)
    packet = _packet(engine, tenant, 1000, 4)

    # when seven attempts reach the lane together: two grabs, an outsider, a member's second
    # grab, the last two shares and one grab too many
    members = ["S001", "S002", "X999", "S001", "S003", "S004", "S005"]
    futures = lane.submit_together(
        [_grab(tenant, packet, member, one_statement=one_statement) for member in members]
    )
    outcomes = [_outcome(future) for future in futures]

    # then each is answered as it would be alone, in order, and all of them in one commit
    positions = [outcome[0] for outcome in outcomes if isinstance(outcome, tuple)]
    assert positions == [1, 2, 3, 4]
    assert [o if isinstance(o, type) else "ok" for o in outcomes] == [
        "ok", "ok", NotFound, AlreadyGrabbed, "ok", "ok", PacketEmpty,
    ]  # fmt: skip
    assert lane.batches == 1
    with unit_of_work(engine) as session:
        view = red_packet_detail(session, tenant, packet)
    assert (view.remaining_fen, view.status) == (0, PacketStatus.FINISHED)
    assert sorted((g.member_id, g.position) for g in view.grabs) == [
        ("S001", 1), ("S002", 2), ("S003", 3), ("S004", 4),
    ]  # fmt: skip
    assert sum(g.amount_fen for g in view.grabs) == 1000
    assert [g.amount_fen for g in sorted(view.grabs, key=lambda g: g.position)] == [
        outcome[1] for outcome in outcomes if isinstance(outcome, tuple)
    ]


def _fails_in_the_database(attempt: Attempt) -> None:
    with attempt.write():
        Sql("UPDATE no_such_table SET x = 1").run(attempt.connection)


def _renames_then_refuses(tenant_id: int, attempt: Attempt) -> None:
    with attempt.write(statements=2):
        Sql("UPDATE tenants SET name = 'renamed' WHERE id = :id").run(
            attempt.connection, id=tenant_id
        )
        raise Conflict("refused after a first write")


def test_an_attempt_failing_in_the_database_or_after_a_write_spoils_no_other(
    engine: Engine, tenant: Tenant, lane: HotLane
) -> None:
    # given 3 members and a packet of ¥3.00 in 3 shares
    group_with_members(engine, tenant, 3)
    packet = _packet(engine, tenant, 300, 3)

    # when a batch holds, between grabs, a statement the database refuses (which aborts a
    # PostgreSQL transaction) and an attempt refused after its first write
    works: list[Callable[[Attempt], Any]] = [
        _grab(tenant, packet, "S001"),
        _fails_in_the_database,
        _grab(tenant, packet, "S002"),
        partial(_renames_then_refuses, tenant.id),
        _grab(tenant, packet, "S003"),
    ]
    futures = lane.submit_together(works)

    # then the two failing attempts get their own errors, the three grabs their shares in order
    assert isinstance(futures[1].exception(timeout=60), DBAPIError)
    assert isinstance(futures[3].exception(timeout=60), Conflict)
    assert [futures[index].result(timeout=60).position for index in (0, 2, 4)] == [1, 2, 3]
    with unit_of_work(engine) as session:
        view = red_packet_detail(session, tenant, packet)
        name = session.scalar(select(Tenant.name).where(Tenant.id == tenant.id))
    assert sorted((g.member_id, g.position) for g in view.grabs) == [
        ("S001", 1), ("S002", 2), ("S003", 3),
    ]  # fmt: skip
    assert (view.remaining_fen, name) == (0, tenant.name)
    # on PostgreSQL the failure aborted the first transaction: the grab before it ran again in
    # a transaction of its own, the rest after it in another; SQLite's went on in one
    assert lane.batches == (2 if engine.dialect.name == "postgresql" else 1)


def _unknown_table(attempt: Attempt) -> Statement[None]:
    return Statement(Sql("UPDATE no_such_table SET x = 1"), {}, lambda rows: None, lambda e: None)


def _fails_in_one_statement() -> OneStatement:
    """Return a one-statement attempt whose statement the database refuses."""

    def whole(attempt: Attempt) -> None:
        with attempt.write() as connection:
            _unknown_table(attempt).run(connection)

    return OneStatement(whole, _unknown_table)


def test_a_statement_failing_in_a_pipeline_spoils_no_other(
    engine: Engine, tenant: Tenant, lane: HotLane
) -> None:
    # given 4 members and a packet of ¥4.00 in 4 shares
    group_with_members(engine, tenant, 4)
    packet = _packet(engine, tenant, 400, 4)

    # when a batch of one-statement attempts holds, after a grab, one the database refuses
    works: list[Callable[[Attempt], Any]] = [
        _grab(tenant, packet, "S001", one_statement=True),
        _fails_in_one_statement(),
        _grab(tenant, packet, "S002", one_statement=True),
        _grab(tenant, packet, "S001", one_statement=True),
        _grab(tenant, packet, "S003", one_statement=True),
    ]
    futures = lane.submit_together(works)

    # then the failing one gets its error, the others their answers as alone, in order
    assert isinstance(futures[1].exception(timeout=60), DBAPIError)
    assert [
        o if isinstance(o, type) else o[0]
        for o in (_outcome(futures[index]) for index in (0, 2, 3, 4))
    ] == [1, 2, AlreadyGrabbed, 3]
    with unit_of_work(engine) as session:
        view = red_packet_detail(session, tenant, packet)
    assert [(g.member_id, g.position) for g in view.grabs] == [
        ("S001", 1), ("S002", 2), ("S003", 3),
    ]  # fmt: skip
    # on PostgreSQL the failure aborted the pipeline's transaction: the grab before it was
    # sent again in a pipeline of its own, the failing one alone, the rest in another pipeline
    assert lane.batches == (2 if engine.dialect.name == "postgresql" else 1)


def test_a_relay_grab_that_one_statement_leaves_alone_runs_whole_after_the_batch(
    engine: Engine, tenant: Tenant, lane: HotLane
) -> None:
    # given 3 members, a packet and a relay's round of ¥3.00 in 3 shares, at T0
    group_with_members(engine, tenant, 3)
    packet = _packet(engine, tenant, 300, 3)
    with unit_of_work(engine) as session:
        relay_id = do_start_relay(
            session, tenant, "G1", 300, 3, 2, when=T0, rng=random.Random(2)
        ).id
        round_one = session.scalars(
            select(RedPacket.id).where(RedPacket.relay_id == relay_id)
        ).one()

    # when the three members grab both together, as the API hands grabs to the lane
    works = [
        _grab(tenant, target, member, one_statement=True)
        for member in ("S001", "S002", "S003")
        for target in (round_one, packet)
    ]
    outcomes = [_outcome(future) for future in lane.submit_together(works)]

    # then every grab is answered, the round's after the batch, and its last grab asks the
    # best luck for round 2
    assert [o[0] for o in outcomes] == [1, 1, 2, 2, 3, 3]
    with unit_of_work(engine) as session:
        relay_view = relay_detail(session, tenant, relay_id)
        best = session.scalars(
            select(RedPacketShare.member_id).where(
                RedPacketShare.packet_id == round_one, RedPacketShare.is_best_luck
            )
        ).one()
    assert [(r.number, r.packet_id, r.status) for r in relay_view.rounds] == [
        (1, round_one, PacketStatus.FINISHED)
    ]
    assert relay_view.relay.next_sender_id == best
    # on PostgreSQL: the batch's pipeline (the packet's grabs) and then the round's three
    assert lane.batches == (2 if engine.dialect.name == "postgresql" else 1)


@ATTEMPT_FORMS
def test_a_crowd_on_one_lane_never_oversells_nor_passes_the_limit(
    engine: Engine, tenant: Tenant, lane: HotLane, one_statement: bool
) -> None:
    # given 30 members and a sale of 40 units, at most 2 per member
    members = group_with_members(engine, tenant, 30)
    with unit_of_work(engine) as session:
        sale = do_create_flash_sale(
            session, tenant, "G1", "SKU-1", "秒杀", 990, 40, 2, T0 - timedelta(hours=1),
            T0 + timedelta(hours=1),
        ).id  # fmt: skip
    answers: list[tuple[str, object]] = []
    guard = threading.Lock()

    def crowd(rotation: int) -> None:
        for member in members[rotation:] + members[:rotation]:
            arguments: dict[str, Any] = {
                "tenant_id": tenant.id, "sale_id": sale, "member_kind": STORE,
                "member_id": member, "qty": 1, "when": T0,
            }  # fmt: skip
            order = order_in_batch(**arguments) if one_statement else partial(order_on, **arguments)
            try:
                answer: object = lane.submit(order).result(timeout=60)
            except ActivationConflict as refused:
                answer = type(refused)
            with guard:
                answers.append((member, answer))

    # when 6 threads each try one unit for every member (180 attempts on 40 units)
    threads = [threading.Thread(target=crowd, args=(5 * index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly 40 orders, none past the limit, each answered order in SQL once
    orders = [answer for _, answer in answers if isinstance(answer, int)]
    assert len(answers) == 180
    assert len(orders) == len(set(orders)) == 40
    assert {answer for _, answer in answers if not isinstance(answer, int)} <= {
        SoldOut, LimitExceeded,
    }  # fmt: skip
    with unit_of_work(engine) as session:
        view = flash_sale_detail(session, tenant, sale)
    assert (view.stock, view.sold) == (40, 40)
    assert sorted(order.id for order in view.orders) == sorted(orders)
    per_member: dict[str, int] = {}
    for order in view.orders:
        per_member[order.member_id] = per_member.get(order.member_id, 0) + order.qty
    assert max(per_member.values()) <= 2
    assert lane.attempts == 180


def _batched_order(
    tenant: Tenant, sale: int, member: str, qty: int, key: str | None = None
) -> OneStatement:
    return order_in_batch(
        tenant_id=tenant.id, sale_id=sale, member_kind=STORE, member_id=member, qty=qty,
        attempt_id=key, when=T0,
    )  # fmt: skip


def _open_sale(engine: Engine, tenant: Tenant, stock: int, limit: int) -> int:
    with unit_of_work(engine) as session:
        return do_create_flash_sale(
            session, tenant, "G1", "SKU-1", "秒杀", 990, stock, limit, T0 - timedelta(hours=1),
            T0 + timedelta(hours=1),
        ).id  # fmt: skip


def _bought(engine: Engine) -> dict[tuple[int, str], int]:
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(FlashSaleBuyer.sale_id, FlashSaleBuyer.member_id, FlashSaleBuyer.bought)
        ).all()
    return {(sale, member): bought for sale, member, bought in rows}


def test_a_batch_of_orders_all_placed_is_one_statement_answered_as_if_alone(
    engine: Engine, tenant: Tenant, lane: HotLane
) -> None:
    # given 3 members, sale A of 10 units (3 a member) and sale B of 5 units (1 a member)
    group_with_members(engine, tenant, 3)
    sale_a = _open_sale(engine, tenant, 10, 3)
    sale_b = _open_sale(engine, tenant, 5, 1)

    # when six orders reach the lane together, a member up to the limit of A in two of them
    orders = [
        _batched_order(tenant, sale_a, "S001", 2), _batched_order(tenant, sale_a, "S002", 1),
        _batched_order(tenant, sale_a, "S001", 1), _batched_order(tenant, sale_b, "S003", 1),
        _batched_order(tenant, sale_b, "S002", 1),
        _batched_order(tenant, sale_a, "S003", 2, key="k-1"),
    ]  # fmt: skip
    futures = lane.submit_together(orders)
    answers = [_order_outcome(future) for future in futures]

    # then each is placed, its id in the batch's order; on PostgreSQL in one statement
    first = answers[0]
    assert isinstance(first, int)
    assert answers == [first + offset for offset in range(6)]
    assert (lane.batches, lane.merged) == (1, 1 if engine.dialect.name == "postgresql" else 0)
    with unit_of_work(engine) as session:
        view_a = flash_sale_detail(session, tenant, sale_a)
        view_b = flash_sale_detail(session, tenant, sale_b)
        placed = {order.id: order for order in view_a.orders + view_b.orders}
    assert (view_a.sold, view_b.sold) == (6, 2)
    assert [
        (placed[order].sale_id, placed[order].member_id, placed[order].qty,
         placed[order].amount_fen, placed[order].attempt_id)
        for order in answers
    ] == [
        (sale_a, "S001", 2, 1980, None), (sale_a, "S002", 1, 990, None),
        (sale_a, "S001", 1, 990, None), (sale_b, "S003", 1, 990, None),
        (sale_b, "S002", 1, 990, None), (sale_a, "S003", 2, 1980, "k-1"),
    ]  # fmt: skip
    assert _bought(engine) == {
        (sale_a, "S001"): 3, (sale_a, "S002"): 1, (sale_a, "S003"): 2, (sale_b, "S002"): 1,
        (sale_b, "S003"): 1,
    }  # fmt: skip


def test_a_batch_of_orders_with_a_refusal_or_a_retry_is_answered_order_by_order(
    engine: Engine, tenant: Tenant, lane: HotLane
) -> None:
    # given 3 members, a sale of 4 units (2 a member), and S003's order with key k-1
    group_with_members(engine, tenant, 3)
    sale = _open_sale(engine, tenant, 4, 2)
    earlier = lane.submit(_batched_order(tenant, sale, "S003", 1, key="k-1")).result(timeout=60)

    # when a batch comes with an order past the limit, a retry of k-1, and more than is left
    orders = [
        _batched_order(tenant, sale, "S001", 2), _batched_order(tenant, sale, "S001", 1),
        _batched_order(tenant, sale, "S003", 1, key="k-1"), _batched_order(tenant, sale, "S002", 2),
        _batched_order(tenant, sale, "S002", 1),
    ]  # fmt: skip
    futures = lane.submit_together(orders)
    answers = [_order_outcome(future) for future in futures]

    # then each is answered as alone, and only what was placed is written
    assert [_answer(answer) for answer in answers] == [
        earlier + 1, LimitExceeded, earlier, SoldOut, earlier + 2,
    ]  # fmt: skip
    assert lane.merged == 0
    with unit_of_work(engine) as session:
        view = flash_sale_detail(session, tenant, sale)
    assert view.sold == 4
    assert sorted(order.id for order in view.orders) == [earlier, earlier + 1, earlier + 2]
    assert _bought(engine) == {(sale, "S001"): 2, (sale, "S002"): 1, (sale, "S003"): 1}


def test_a_batch_of_orders_overtaken_by_another_transaction_writes_nothing_of_its_own(
    engine: Engine, tenant: Tenant, lane: HotLane
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("one statement for a batch is PostgreSQL's")
    # given 3 members, a sale of 5 units, and another transaction that sells the last 4
    # (not committed yet: it holds the sale's row)
    group_with_members(engine, tenant, 3)
    sale = _open_sale(engine, tenant, 5, 5)
    other = engine.connect()
    other.execute(text("UPDATE flash_sales SET sold = 1 + 4 WHERE id = :id"), {"id": sale})

    # when a batch of three orders (which its snapshot sees room for) waits for that row, and
    # the other transaction commits
    try:
        futures = lane.submit_together(
            [_batched_order(tenant, sale, member, 1) for member in ("S001", "S002", "S003")]
        )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
            deadline = time.monotonic() + 30
            while not watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            ).scalar_one():
                assert time.monotonic() < deadline, "the batch never waited for the sale's row"
                time.sleep(0.01)
        other.commit()
    finally:
        other.close()
    answers = [_answer(_order_outcome(future)) for future in futures]

    # then the batch's statement failed and took back its members' units; each order, placed
    # alone after it, is sold out
    assert answers == [SoldOut, SoldOut, SoldOut]
    assert lane.merged == 0
    assert _bought(engine) == {}
    with unit_of_work(engine) as session:
        view = flash_sale_detail(session, tenant, sale)
    assert (view.sold, view.orders) == (5, [])


KILLED_LANE = textwrap.dedent(
    """
    import functools, sys, time
    from datetime import UTC, datetime
    from qunyun.activation.lane import HotLane
    from qunyun.activation.redpackets import grab_on
    from qunyun.channel.models import ContactKind
    from qunyun.core.db import engine_for

    url, tenant, packet, marker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    when = datetime.fromisoformat(sys.argv[5])

    def grab(member):
        return functools.partial(
            grab_on, tenant_id=tenant, packet_id=packet, member_kind=ContactKind.STORE,
            member_id=member, when=when)

    def stall(attempt):  # the batch's last attempt: the two grabs ran, nothing is committed
        open(marker, "w").close()
        time.sleep(600)

    futures = HotLane(engine_for(url)).submit_together([grab("S001"), grab("S002"), stall])
    for future in futures:
        print("answered", future.result(), flush=True)
    """
)


def test_a_lane_killed_in_the_middle_of_a_batch_leaves_nothing_of_it(
    engine: Engine, tenant: Tenant, tmp_path: Path
) -> None:
    # given 3 members, a packet of ¥3.00 in 3 shares, and a process whose lane has run two
    # grabs of a batch and waits in its third attempt
    group_with_members(engine, tenant, 3)
    packet = _packet(engine, tenant, 300, 3)
    marker = tmp_path / "in-the-batch"
    url = engine.url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_LANE, url, str(tenant.id), str(packet), str(marker),
         T0.isoformat()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy(),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.communicate()[1].decode()
        assert time.monotonic() < deadline, "the lane never reached its third attempt"
        time.sleep(0.02)

    # when the process is killed with SIGKILL
    os.kill(child.pid, signal.SIGKILL)
    out, _ = child.communicate(timeout=30)

    # then nothing was answered and nothing of the batch is in SQL; the shares are all free
    assert out == b""
    with unit_of_work(engine) as session:
        view = red_packet_detail(session, tenant, packet)
    assert (view.grabs, view.remaining_fen) == ([], 300)
    lane = HotLane(engine)
    try:
        again = lane.submit(_grab(tenant, packet, "S002")).result(timeout=60)
    finally:
        lane.close()
    assert again.position == 1


def _three_members_and_a_packet_now(engine: Engine, tenant: Tenant) -> int:
    """Return a packet of ¥3.00 in 3 shares sent now to S001–S003 (the Redis paths grab now).

    The group may send packets at any hour, so that the packet goes out whatever the clock.
    """
    group_with_members(engine, tenant, 3)
    all_day = dataclasses.replace(DEFAULT_RULE, window_start="00:00", window_end="00:00")
    with unit_of_work(engine) as session:
        do_set_rule(session, tenant, all_day)
        return do_create_red_packet(session, tenant, "G1", 300, 3, rng=random.Random(5)).id


def test_redis_grabs_waiting_together_are_answered_each_as_alone(
    engine: Engine, tenant: Tenant, hot: RedisHotState, lane: HotLane
) -> None:
    # given: three members, a packet of three shares sent now, not yet in Redis
    packet = _three_members_and_a_packet_now(engine, tenant)
    together = partial(grab_together, hot, tenant_id=tenant.id, packet_id=packet, member_kind=STORE)

    # when: a member twice and an outsider wait in one batch, then the last member and again one
    first = lane.submit_together(
        [together(member_id=m) for m in ("S001", "S002", "S001", "S404")], batched=False
    )
    first_answers = [_outcome(future) for future in first]
    second = lane.submit_together([together(member_id=m) for m in ("S003", "S002")], batched=False)
    second_answers = [_outcome(future) for future in second]

    # then: positions in order, refusals as alone, and SQL gets exactly the three grabs
    assert [a[0] if isinstance(a, tuple) else a for a in first_answers] == [
        1, 2, AlreadyGrabbed, NotFound,
    ]  # fmt: skip
    assert [a[0] if isinstance(a, tuple) else a for a in second_answers] == [3, AlreadyGrabbed]
    amounts = [a[1] for a in (*first_answers, *second_answers) if isinstance(a, tuple)]
    assert sum(amounts) == 300
    drain_all(engine, hot)
    with unit_of_work(engine) as session:
        view = red_packet_detail(session, tenant, packet)
    assert [(g.member_id, g.position, g.amount_fen) for g in view.grabs] == [
        ("S001", 1, amounts[0]), ("S002", 2, amounts[1]), ("S003", 3, amounts[2]),
    ]  # fmt: skip
    assert view.remaining_fen == 0


def _sale(engine: Engine, tenant: Tenant, stock: int, limit: int, starts_in: timedelta) -> int:
    """Create a sale of ``stock`` units, ``limit`` a member, open from now + ``starts_in``."""
    now = utcnow()
    with unit_of_work(engine) as session:
        return do_create_flash_sale(
            session, tenant, "G1", "SKU-1", "秒杀", 990, stock, limit, now + starts_in,
            now + timedelta(hours=2),
        ).id  # fmt: skip


def _answer(answer: object) -> object:
    """Return an order id as it is, or the type of a refusal."""
    return answer if isinstance(answer, int) else type(answer)


def test_redis_orders_waiting_together_are_answered_each_as_alone(
    engine: Engine, tenant: Tenant, hot: RedisHotState
) -> None:
    # given: four members; sale A (3 units, 2 a member) in Redis; sale B (5 units, 1 a member)
    # and sale C (opening in an hour) not yet in Redis
    group_with_members(engine, tenant, 4)
    sale_a = _sale(engine, tenant, 3, 2, -timedelta(hours=1))
    sale_b = _sale(engine, tenant, 5, 1, -timedelta(hours=1))
    sale_c = _sale(engine, tenant, 5, 1, timedelta(hours=1))
    with engine.connect() as connection:
        assert load_sale_state(connection, sale_a, hot)

    def order(sale: int, member: str, qty: int = 1, key: str | None = None) -> OrderRequest:
        return OrderRequest(hot, tenant.id, sale, STORE, member, qty, key)

    # when: ten orders wait together: up to the limit, past it, more than is left, an outsider,
    # the first two orders of a sale not in Redis, no units, a sale not started, a retry
    requests = [
        order(sale_a, "S001", 2), order(sale_a, "S001"), order(sale_a, "S002", 2),
        order(sale_a, "S404"), order(sale_b, "S002"), order(sale_b, "S002"),
        order(sale_a, "S003", 0), order(sale_c, "S003"), order(sale_a, "S003", key="k-1"),
        order(sale_a, "S003", key="k-1"),
    ]  # fmt: skip
    with attempt(engine) as buy:
        answers = orders_in_redis(buy, requests)

    # then: each is answered as alone, in order; the retry gets the order it made
    first = answers[0]
    assert isinstance(first, int)
    # PostgreSQL batches: sale B, not in Redis, is bought alone after the batch's pipeline;
    # elsewhere each order runs alone in turn
    order_b = first + 2 if engine.dialect.name == "postgresql" else first + 1
    order_k = first + 1 if engine.dialect.name == "postgresql" else first + 2
    assert [_answer(answer) for answer in answers] == [
        first, LimitExceeded, SoldOut, NotFound, order_b, LimitExceeded, InvalidInput,
        NotStarted, order_k, order_k,
    ]  # fmt: skip
    assert str(answers[3]) == f"没有秒杀 {sale_a}"
    # and SQL gets exactly the three orders, with their units
    drain_all(engine, hot)
    with unit_of_work(engine) as session:
        views = [flash_sale_detail(session, tenant, sale) for sale in (sale_a, sale_b, sale_c)]
    assert [(view.sold, view.stock) for view in views] == [(3, 3), (1, 5), (0, 5)]
    assert [[(o.id, o.member_id, o.qty) for o in view.orders] for view in views] == [
        [(first, "S001", 2), (order_k, "S003", 1)], [(order_b, "S002", 1)], [],
    ]  # fmt: skip


def test_a_member_who_left_is_refused_on_the_batched_redis_path(
    engine: Engine, tenant: Tenant, hot: RedisHotState, lane: HotLane
) -> None:
    # given: three members, a packet of three shares and a sale of 5 units, both in Redis,
    # then S002 leaves the group
    packet = _three_members_and_a_packet_now(engine, tenant)
    sale = _sale(engine, tenant, 5, 2, -timedelta(hours=1))
    with engine.connect() as connection:
        assert load_packet_state(connection, packet, hot)
        assert load_sale_state(connection, sale, hot)
    with unit_of_work(engine) as session:
        do_leave(session, tenant, "G1", STORE, "S002")
    grab = partial(grab_together, hot, tenant_id=tenant.id, packet_id=packet, member_kind=STORE)
    buy = partial(order_together, hot, tenant_id=tenant.id, sale_id=sale, member_kind=STORE)

    # when: the three grab together, then the three order together
    grabs = lane.submit_together(
        [grab(member_id=m) for m in ("S001", "S002", "S003")], batched=False
    )
    grab_answers = [_outcome(future) for future in grabs]
    orders = lane.submit_together(
        [buy(member_id=m, qty=1) for m in ("S001", "S002", "S003")], batched=False
    )
    order_answers = [_answer(_order_outcome(future)) for future in orders]

    # then: the member who left is refused both, as an outsider, and Redis gave them nothing
    assert [a[0] if isinstance(a, tuple) else a for a in grab_answers] == [1, NotFound, 2]
    assert isinstance(order_answers[0], int)
    assert order_answers == [order_answers[0], NotFound, order_answers[0] + 1]
    drain_all(engine, hot)
    with unit_of_work(engine) as session:
        packet_view = red_packet_detail(session, tenant, packet)
        sale_view = flash_sale_detail(session, tenant, sale)
    assert [(g.member_id, g.position) for g in packet_view.grabs] == [("S001", 1), ("S003", 2)]
    assert [(o.member_id, o.qty) for o in sale_view.orders] == [("S001", 1), ("S003", 1)]
    assert sale_view.sold == 2


def _order_outcome(future: Any) -> object:
    error = future.exception(timeout=60)
    return error if error is not None else future.result()
