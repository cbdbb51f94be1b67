"""``kill -9`` of ``qunyun serve`` under a crowd: no acknowledged grab, order or join lost or doubled.

The server runs as a real process (uvicorn through ``qunyun serve``) on a file SQLite database
or PostgreSQL, with hot counters in SQL or Redis. Threads fire grabs, flash-sale orders and
joins of 拼团 teams;
when a third of the grabs are acknowledged the server is killed with SIGKILL and started
again, and every request that got no answer is sent again (an order with the same
``Idempotency-Key``), as a phone would. With Redis, acknowledged grabs and orders reach SQL
through the activation log, which the restarted server's drainer empties (entries the killed
one left behind included). Then the database must hold every acknowledged grab, order and
join exactly once, the packet must be grabbed exactly to its total (every member ends up
with one share), the sale sold exactly to its stock and every team filled exactly to its
size (a retried join answers ``already_joined`` when its first attempt got in).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from qunyun.activation.flashsales import do_create_flash_sale
from qunyun.activation.groupbuys import do_create_group_buy, do_open_team
from qunyun.activation.hot import RedisHotState
from qunyun.activation.models import (
    FlashSale,
    FlashSaleOrder,
    GroupBuy,
    GroupBuyMember,
    GroupBuyTeam,
    RedPacket,
    RedPacketShare,
    TeamStatus,
)
from qunyun.activation.redpackets import do_create_red_packet
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.org.models import Tenant
from qunyun.web.auth import Member, TokenSigner
from tests.activation.helpers import STORE, group_with_members

from .activation_helpers import allow_packets_all_day
from .test_browser import _free_port

pytestmark = pytest.mark.slow

KEY = "kill-test-key-" + "k" * 40
MEMBERS = 200
THREADS = 16
TEAMS = 10
"""Teams of 5 opened by the first 10 members; the other 190 try one team each (40 seats)."""
QUNYUN = Path(sys.executable).with_name("qunyun")


class Server:
    """``qunyun serve`` as a child process that can be killed and started again."""

    def __init__(
        self, env: dict[str, str], port: int, log: Path, hot: RedisHotState | None = None
    ) -> None:
        self.env, self.port, self.log, self.hot = env, port, log, hot
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(QUNYUN), "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        deadline = time.monotonic() + 180  # a generous start: the machine may be loaded
        while True:
            assert self.process.poll() is None, "qunyun serve exited"
            try:
                if httpx.get(self.base + "/api/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "qunyun serve did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture(params=["sql", "redis"])
def server(
    request: pytest.FixtureRequest, engine: Engine, database_url: str, tmp_path: Path
) -> Iterator[Server]:
    """Return a stopped server on the test database, with hot counters in SQL or Redis."""
    env = {
        **os.environ,
        "QUNYUN_DATABASE_URL": database_url.replace("postgresql+psycopg://", "postgresql://"),
        "QUNYUN_HOME": str(tmp_path / "server-home"),
        "QUNYUN_SECRET_KEY": KEY,
    }
    env.pop("QUNYUN_REDIS_URL", None)
    hot: RedisHotState | None = None
    if request.param == "redis":
        hot = request.getfixturevalue("hot")
        env["QUNYUN_REDIS_URL"] = request.getfixturevalue("redis_url")
        env["QUNYUN_REDIS_PREFIX"] = hot.prefix
    instance = Server(env, _free_port(), tmp_path / "server.log", hot)
    yield instance
    instance.stop()


def _fire(
    server: Server, tasks: queue.Queue[tuple[str, str, str]], answers: list[tuple[object, ...]]
) -> None:
    """Send tasks until none is left; resend a task that got no answer (the server died)."""
    with httpx.Client(base_url=server.base, timeout=10) as client:
        while True:
            try:
                kind, token, key = tasks.get_nowait()
            except queue.Empty:
                return
            headers = {"Authorization": f"Bearer {token}"}
            while True:
                try:
                    if kind == "grab":
                        response = client.post(f"/api/v1/red-packets/{key}/grab", headers=headers)
                    elif kind == "join":
                        response = client.post(
                            f"/api/v1/group-buy-teams/{key}/members", headers=headers
                        )
                    else:
                        sale, attempt = key.split("/")
                        response = client.post(
                            f"/api/v1/flash-sales/{sale}/orders",
                            json={"qty": 1},
                            headers=headers | {"Idempotency-Key": attempt},
                        )
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                answers.append((kind, token, key, response.status_code, response.json()))
                break


def test_a_killed_server_loses_and_doubles_nothing_acknowledged(
    engine: Engine, tenant: Tenant, server: Server
) -> None:
    # given a packet with a share for each of 200 members and a sale of 300 units, 2 a member
    tenant_id = tenant.id
    allow_packets_all_day(engine, slug=tenant.slug)
    members = group_with_members(engine, tenant, MEMBERS)
    now = utcnow()
    with unit_of_work(engine) as session:
        tenant = session.get_one(Tenant, tenant_id)
        packet = do_create_red_packet(session, tenant, "G1", MEMBERS * 50, MEMBERS).id
        sale = do_create_flash_sale(
            session, tenant, "G1", "SKU", "秒杀", 990, 300, 2, now, now + timedelta(hours=1)
        ).id
        deal = do_create_group_buy(
            session, tenant, "G1", "SKU2", "五人团", 990, 5, 100, 60, now, now + timedelta(hours=1)
        ).id
        teams = [do_open_team(session, tenant, deal, STORE, m).id for m in members[:TEAMS]]
    signer = TokenSigner(KEY)
    tokens = {m: signer.issue_member(Member(tenant_id, STORE, m)) for m in members}
    team_of = {m: teams[index % TEAMS] for index, m in enumerate(members) if index >= TEAMS}
    tasks: queue.Queue[tuple[str, str, str]] = queue.Queue()
    for member in members:
        tasks.put(("grab", tokens[member], str(packet)))
        for _attempt in range(3):
            tasks.put(("order", tokens[member], f"{sale}/{uuid.uuid4().hex}"))
        if member in team_of:
            tasks.put(("join", tokens[member], str(team_of[member])))
    answers: list[tuple[object, ...]] = []

    # when threads fire them and the server is killed with SIGKILL mid-load, then restarted
    server.start()
    threads = [
        threading.Thread(target=_fire, args=(server, tasks, answers)) for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    while sum(1 for a in answers if a[0] == "grab" and a[3] == 200) < MEMBERS // 3:
        time.sleep(0.005)
    in_flight_at_kill = tasks.qsize()
    server.kill()
    time.sleep(0.5)
    server.start()
    for thread in threads:
        thread.join(timeout=300)

    # then the server's own drainer empties the Redis log into SQL (a kill left entries there)
    if server.hot is not None:
        deadline = time.monotonic() + 120
        while server.hot.log_length() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.hot.log_length() == 0

    # and every task got an answer, and the database agrees with every acknowledgement
    assert in_flight_at_kill > 0
    assert len(answers) == MEMBERS * 4 + len(team_of)
    owner = {token: member for member, token in tokens.items()}
    grabs = {owner[a[1]]: a[4] for a in answers if a[0] == "grab" and a[3] == 200}  # type: ignore[index]
    orders = [a[4]["order_id"] for a in answers if a[0] == "order" and a[3] == 201]  # type: ignore[index]
    refusals = Counter(
        a[4]["error"]  # type: ignore[index]
        for a in answers
        if a[3] == 409 and a[0] != "join"
    )
    joins = {owner[a[1]]: a[3] for a in answers if a[0] == "join"}  # type: ignore[index]
    join_refusals = Counter(
        a[4]["error"]  # type: ignore[index]
        for a in answers
        if a[3] == 409 and a[0] == "join"
    )
    with unit_of_work(engine) as session:
        shares = {
            member: (position, amount)
            for member, position, amount in session.execute(
                select(
                    RedPacketShare.member_id, RedPacketShare.position, RedPacketShare.amount_fen
                ).where(RedPacketShare.packet_id == packet, RedPacketShare.member_id.is_not(None))
            )
        }
        row = session.get_one(RedPacket, packet)
        stored_orders = Counter(
            session.scalars(select(FlashSaleOrder.id).where(FlashSaleOrder.sale_id == sale))
        )
        per_member = dict(
            session.execute(
                select(FlashSaleOrder.member_id, func.sum(FlashSaleOrder.qty))
                .where(FlashSaleOrder.sale_id == sale)
                .group_by(FlashSaleOrder.member_id)
            ).all()
        )
        sold = session.get_one(FlashSale, sale).sold
        seats = dict(
            session.execute(
                select(GroupBuyMember.member_id, GroupBuyMember.team_id).where(
                    GroupBuyMember.deal_id == deal
                )
            ).all()
        )
        team_rows = sorted(
            session.execute(
                select(GroupBuyTeam.id, GroupBuyTeam.status, GroupBuyTeam.joined).where(
                    GroupBuyTeam.deal_id == deal
                )
            ).all()
        )
        deal_row = session.get_one(GroupBuy, deal)
        deal_units = (deal_row.reserved, deal_row.sold)

    for member, grab in grabs.items():
        assert shares[member] == (grab["position"], grab["amount_fen"]), member  # type: ignore[index]
    assert len(shares) == MEMBERS
    assert sorted(position for position, _ in shares.values()) == list(range(1, MEMBERS + 1))
    assert sum(amount for _, amount in shares.values()) == MEMBERS * 50
    assert (row.grabbed_count, row.grabbed_fen) == (MEMBERS, MEMBERS * 50)
    assert len(grabs) + refusals["already_grabbed"] == MEMBERS
    assert len(orders) == len(set(orders)) == 300
    assert set(orders) == set(stored_orders)
    assert max(stored_orders.values()) == 1
    assert sold == sum(per_member.values()) == 300
    assert max(per_member.values()) == 2
    assert refusals["sold_out"] + refusals["limit_exceeded"] == MEMBERS * 3 - 300
    seated = {m for m, code in joins.items() if code == 200}
    assert all(seats[m] == team_of[m] for m in seated)
    assert {m for m in seats if m in team_of} == seated | {
        owner[a[1]]  # type: ignore[index]
        for a in answers
        if a[0] == "join" and a[3] == 409 and a[4]["error"] == "already_joined"  # type: ignore[index]
    }
    assert team_rows == [(team, TeamStatus.COMPLETE, 5) for team in teams]
    assert Counter(seats.values()) == dict.fromkeys(teams, 5)
    assert deal_units == (0, TEAMS * 5)
    assert len(seated) + join_refusals["already_joined"] == TEAMS * 4
    assert join_refusals["ended"] == len(team_of) - TEAMS * 4
    assert set(joins.values()) <= {200, 409}
