"""Red-packet grabs and flash-sale orders per second through the HTTP API, against a bare endpoint.

For each store (SQLite file, PostgreSQL, PostgreSQL + Redis hot counters) the app is served by
uvicorn in a process of its own (``--workers`` processes on one socket; 1 by default, as
``qunyun serve`` runs it; the bare endpoint is served by the same workers), and a separate load
process pool (``--processes`` × ``--threads`` keep-alive httpx clients on loopback) sends, for
``--seconds`` each:

- ``POST /bench/bare``: a bare endpoint of the same app instance (answers 200, does nothing),
  added here only, never in the production routes; measured before and after the others and
  averaged, so that drift of a shared machine is spread evenly;
- ``POST /api/v1/red-packets/{id}/grab`` with member tokens, each member once per packet;
- ``POST /api/v1/flash-sales/{id}/orders`` ``{"qty": 1}`` with member tokens.

It prints requests per second and the ratio to the bare endpoint (target: each ≥ 0.5). With
Redis the grab and order figures count until the server's drainer has applied the whole log
to SQL (``drain lag``), not only until the last acknowledgement. It also prints the server
processes' CPU time per request of each phase (``/proc``), which a shared machine disturbs
less than the rates, and that of the PostgreSQL backends of the benchmark's database (on the
same cores; where PostgreSQL runs on this machine).

    .venv/bin/python benchmarks/activation_http.py --seconds 8
    .venv/bin/python benchmarks/activation_http.py --stores sqlite --seconds 5 --processes 1

``--async-commit`` runs PostgreSQL with ``synchronous_commit = off`` on the benchmark's
database: a diagnosis of how much of a hot row's throughput the commit's WAL flush takes
(the row's lock is held until the flush), not a setting Qunyun uses.

PostgreSQL comes from ``QUNYUN_BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``; a database ``qunyun_bench_<pid>`` is made and
dropped there), Redis from ``QUNYUN_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/14``,
under a key prefix of this run, deleted afterwards).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text

POSTGRES = os.environ.get("QUNYUN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("QUNYUN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
KEY = "bench-key-" + "b" * 40
MEMBERS = 4000
PACKETS = 10


@dataclass(frozen=True)
class Store:
    name: str
    database_url: str
    redis_prefix: str | None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _admin(statement: str) -> None:
    engine = create_engine(
        POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


def _prepare(store: Store) -> dict[str, Any]:
    """Make a tenant, a group of MEMBERS stores, PACKETS packets and a sale; return ids, tokens."""
    from qunyun.activation.flashsales import do_create_flash_sale
    from qunyun.activation.models import ALL_GROUPS
    from qunyun.activation.redpackets import Rule, do_create_red_packet, do_set_rule
    from qunyun.channel.models import ContactKind
    from qunyun.core.clock import utcnow
    from qunyun.core.db import engine_for, migrate, unit_of_work
    from qunyun.groups.actions import do_create_group
    from qunyun.groups.figures import refresh_coverage, refresh_member_counts, store_reps
    from qunyun.groups.models import Matrix, MemberRole, Membership
    from qunyun.org.actions import do_create_tenant
    from qunyun.web.auth import Member, TokenSigner

    engine = engine_for(store.database_url)
    migrate(engine)
    members = [f"S{number:05d}" for number in range(MEMBERS)]
    now = utcnow()
    rule = Rule(10**12, 1, 10**9, 1, MEMBERS, "00:00", "00:00", 24 * 60, ALL_GROUPS)
    with unit_of_work(engine) as session:
        tenant = do_create_tenant(session, "bench", "压测品牌")
        do_set_rule(session, tenant, rule)
        do_create_group(session, tenant, "G1", "压测群", Matrix.STORE)
        # setup, not measured: the members in one executemany and the group's figures once
        # (``do_join`` refreshes them per member, minutes for 4,000 on a loaded PostgreSQL)
        session.execute(
            insert(Membership),
            [
                {
                    "tenant_id": tenant.id,
                    "group_id": "G1",
                    "member_kind": ContactKind.STORE,
                    "member_id": member,
                    "role": MemberRole.CUSTOMER,
                    "joined_at": now,
                }
                for member in members
            ],
        )
        refresh_member_counts(session, tenant, ["G1"])
        refresh_coverage(session, tenant, store_reps(session, tenant, members))
        packets = [
            do_create_red_packet(session, tenant, "G1", MEMBERS * 100, MEMBERS).id
            for _ in range(PACKETS)
        ]
        sale = do_create_flash_sale(
            session, tenant, "G1", "SKU", "压测秒杀", 100, 10**8, 10**6, now,
            now + timedelta(hours=2),
        ).id  # fmt: skip
        tenant_id = tenant.id
    if store.redis_prefix:  # Redis state loaded now, not by the first timed grab or order
        from qunyun.activation.flashsales import load_sale_state
        from qunyun.activation.hot import RedisHotState
        from qunyun.activation.redpackets import load_packet_state

        hot = RedisHotState.from_url(REDIS, store.redis_prefix)
        with engine.connect() as connection:
            for packet in packets:
                load_packet_state(connection, packet, hot, now)
            load_sale_state(connection, sale, hot, now)
    engine.dispose()
    signer = TokenSigner(KEY)
    tokens = [signer.issue_member(Member(tenant_id, ContactKind.STORE, m)) for m in members]
    return {"packets": packets, "sale": sale, "tokens": tokens}


def _serve(store: Store, port: int, workers: int) -> None:
    """Serve the app plus the bare endpoint on ``port`` with ``workers`` processes until killed.

    The workers share one listening socket (as ``uvicorn --workers`` does); each builds its own
    app, engine and Redis client after the fork. SIGTERM stops them all.
    """
    import signal

    # IPPROTO_TCP, so that asyncio sets TCP_NODELAY on each accepted connection (it does only
    # for sockets that say TCP). Without it a JSON answer, sent as headers then body, waits
    # for the client's delayed ACK: ~40 ms per answer with a body, none for the bare one.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(2048)
    if workers == 1:
        _serve_one(store, listener)
        return
    children = []
    for _ in range(workers):
        child = os.fork()
        if child == 0:
            _serve_one(store, listener)
            os._exit(0)
        children.append(child)

    def stop(_signal: int, _frame: Any) -> None:
        for child in children:
            os.kill(child, signal.SIGTERM)
        for child in children:
            os.waitpid(child, 0)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        signal.pause()


def _serve_one(store: Store, listener: socket.socket) -> None:
    import uvicorn
    from fastapi.responses import Response

    from qunyun.activation.hot import RedisHotState
    from qunyun.core.db import engine_for
    from qunyun.web.app import create_app

    hot = RedisHotState.from_url(REDIS, store.redis_prefix) if store.redis_prefix else None
    app = create_app(engine_for(store.database_url), KEY, hot)

    # async, as the grab and order endpoints: a plain ``def`` would pay a thread-pool hop that
    # the hot endpoints do not, and flatter them
    @app.post("/bench/bare", include_in_schema=False)
    async def bare() -> Response:
        return Response(status_code=200)

    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])


def _jobs(paths: list[str], tokens: list[str], thread: int, threads: int) -> Any:
    """Yield this thread's (path, token): every path with a disjoint slice of the members."""
    for path in paths:
        for index in range(thread, len(tokens), threads):
            yield path, tokens[index]


def _load(
    base: str,
    kind: str,
    paths: list[str],
    tokens: list[str],
    first_thread: int,
    threads: int,
    all_threads: int,
    start_at: Any,
    seconds: float,
    out: Any,
) -> None:
    """Run ``threads`` client threads for ``seconds``; put (ok, other) on ``out``.

    The clock starts when the parent sets ``start_at``, once every load process is connected.
    """
    counts: list[tuple[int, int]] = []
    connected = threading.Barrier(threads + 1)

    def run(thread: int) -> None:
        good = bad = 0
        with httpx.Client(base_url=base, timeout=30) as client:
            client.get("/api/openapi.json")  # open the connection before the clock starts
            connected.wait()
            while start_at.value == 0.0:
                time.sleep(0.001)
            time.sleep(max(0.0, start_at.value - time.time()))
            deadline = start_at.value + seconds
            for path, token in _jobs(paths, tokens, thread, all_threads):
                if time.time() >= deadline:
                    break
                headers = {"Authorization": f"Bearer {token}"}
                if kind == "order":
                    response = client.post(path, json={"qty": 1}, headers=headers)
                else:
                    response = client.post(path, headers=headers)
                if response.status_code in (200, 201):
                    good += 1
                else:
                    bad += 1
        counts.append((good, bad))

    workers = [
        threading.Thread(target=run, args=(first_thread + offset,)) for offset in range(threads)
    ]
    for worker in workers:
        worker.start()
    connected.wait()
    out.put("connected")
    for worker in workers:
        worker.join()
    out.put((sum(good for good, _ in counts), sum(bad for _, bad in counts)))


def _measure(
    base: str, kind: str, paths: list[str], tokens: list[str], args: argparse.Namespace
) -> tuple[float, int]:
    """Return requests per second (200/201 only) and the number of other answers."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start_at = context.Value("d", 0.0)
    all_threads = args.processes * args.threads
    processes = [
        context.Process(
            target=_load,
            args=(
                base,
                kind,
                paths,
                tokens,
                number * args.threads,
                args.threads,
                all_threads,
                start_at,
                args.seconds,
                out,
            ),
        )
        for number in range(args.processes)
    ]
    for process in processes:
        process.start()
    for _ in processes:  # spawning is slow on a loaded machine: start the clock once all are in
        assert out.get() == "connected"
    start_at.value = time.time() + 0.2
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
    ok = sum(good for good, _ in results)
    return ok / args.seconds, sum(bad for _, bad in results)


def _run(store: Store, args: argparse.Namespace) -> dict[str, float]:
    started = time.monotonic()
    prepared = _prepare(store)
    setup = time.monotonic() - started
    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(store, port, args.workers)
    )
    server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a loaded machine starts slowly
        while True:
            try:
                if httpx.get(base + "/api/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        tokens = prepared["tokens"]
        grabs = [f"/api/v1/red-packets/{packet}/grab" for packet in prepared["packets"]]
        orders = [f"/api/v1/flash-sales/{prepared['sale']}/orders"] * 1000
        bare = ["/bench/bare"] * 1000
        assert server.pid is not None
        cpu = _ServerCpu(server.pid)
        database = _DatabaseCpu(store)
        bare_before, _ = _measure(base, "bare", bare, tokens, args)
        bare_cpu = cpu.per_request(bare_before * args.seconds)
        database.per_request(bare_before * args.seconds)
        grab_rate, grab_other = _measure(base, "grab", grabs, tokens, args)
        grab_rate, grab_lag = _sustained(store, grab_rate, args.seconds)
        grab_requests = grab_rate * (args.seconds + grab_lag) + grab_other
        grab_cpu = cpu.per_request(grab_requests)
        grab_database = database.per_request(grab_requests)
        order_rate, order_other = _measure(base, "order", orders, tokens, args)
        order_rate, order_lag = _sustained(store, order_rate, args.seconds)
        order_requests = order_rate * (args.seconds + order_lag) + order_other
        order_cpu = cpu.per_request(order_requests)
        order_database = database.per_request(order_requests)
        database.dispose()
        bare_after, _ = _measure(base, "bare", bare, tokens, args)
    finally:
        server.terminate()
        server.join()
    bare_rate = (bare_before + bare_after) / 2
    return {
        "bare": bare_rate,
        "bare_before": bare_before,
        "bare_after": bare_after,
        "grab": grab_rate,
        "order": order_rate,
        "grab_ratio": grab_rate / bare_rate,
        "order_ratio": order_rate / bare_rate,
        "refused": grab_other + order_other,
        "lag": max(grab_lag, order_lag),
        "setup": setup,
        "load": os.getloadavg()[0],
        "cpu": (bare_cpu, grab_cpu, order_cpu),
        "database_cpu": (grab_database, order_database),
    }


class _ServerCpu:
    """CPU time of the server's processes (the pid and its children), per request of a phase.

    Less sensitive to a shared machine than the rates: what the server spends per request,
    its drainer included (a Redis phase is counted until the log is empty).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.last = self._seconds()

    def _seconds(self) -> float:
        pids = [self.pid]
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        if children.exists():
            pids += [int(child) for child in children.read_text().split()]
        ticks = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def per_request(self, requests: float) -> float:
        """Return the server's CPU milliseconds per request since the last call."""
        now = self._seconds()
        spent, self.last = now - self.last, now
        return 1000 * spent / max(requests, 1)


class _DatabaseCpu:
    """CPU time of the PostgreSQL backends of the store's database, per request of a phase.

    The server's own CPU leaves out what PostgreSQL spends for it, on the same cores. Read
    from ``/proc`` of the backends that ``pg_stat_activity`` lists, so only where PostgreSQL
    runs on this machine (NaN elsewhere, and for SQLite); a backend that ends within a phase
    loses its last part.
    """

    def __init__(self, store: Store) -> None:
        self.engine: Any = None
        self.last: dict[int, float] = {}
        if store.database_url.startswith("postgresql"):
            self.engine = create_engine(store.database_url, isolation_level="AUTOCOMMIT")
            self.last = self._seconds()

    def _seconds(self) -> dict[int, float]:
        with self.engine.connect() as connection:
            pids = connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
            ).scalars()
            seconds = {}
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:  # not on this machine, or ended since
                    continue
                seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return seconds

    def per_request(self, requests: float) -> float:
        """Return the backends' CPU milliseconds per request since the last call."""
        if self.engine is None:
            return float("nan")
        now = self._seconds()
        spent = sum(value - self.last.get(pid, 0.0) for pid, value in now.items())
        self.last = now
        return 1000 * spent / max(requests, 1) if now else float("nan")

    def dispose(self) -> None:
        """Give the connection back (the database is dropped after the run)."""
        if self.engine is not None:
            self.engine.dispose()


def _sustained(store: Store, rate: float, seconds: float) -> tuple[float, float]:
    """Return the rate counted until SQL has it all, and the drain lag (Redis only).

    With Redis a grab is acknowledged once logged; the server's drainer applies the log to SQL
    behind it. The figure counts the time until the log is empty, so that a drainer falling
    behind lowers it.
    """
    if not store.redis_prefix:
        return rate, 0.0
    from qunyun.activation.hot import RedisHotState

    hot = RedisHotState.from_url(REDIS, store.redis_prefix)
    started = time.monotonic()
    while hot.log_length():
        time.sleep(0.01)
    lag = time.monotonic() - started
    return rate * seconds / (seconds + lag), lag


def _stores(names: list[str], home: Path, *, async_commit: bool = False) -> list[Store]:
    stores = []
    run = uuid.uuid4().hex[:8]
    for name in names:
        if name == "sqlite":
            stores.append(Store(name, f"sqlite:///{home / 'bench.db'}", None))
        else:
            database = f"qunyun_bench_{os.getpid()}_{name.replace('+', '_')}"
            _admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            _admin(f"CREATE DATABASE {database}")
            if async_commit:
                _admin(f"ALTER DATABASE {database} SET synchronous_commit = off")
            url = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            prefix = f"qunyun-bench-{run}:" if name == "postgresql+redis" else None
            stores.append(Store(name, f"{url}/{database}", prefix))
    return stores


def _drop(store: Store) -> None:
    if store.database_url.startswith("postgresql"):
        from qunyun.core.db import engine_for

        engine_for(store.database_url).dispose()
        _admin(f"DROP DATABASE IF EXISTS {store.database_url.rsplit('/', 1)[1]} WITH (FORCE)")
    if store.redis_prefix:
        from qunyun.activation.hot import RedisHotState

        RedisHotState.from_url(REDIS, store.redis_prefix).clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--stores", default="sqlite,postgresql,postgresql+redis",
        help="comma-separated: sqlite, postgresql, postgresql+redis",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--processes", type=int, default=2, help="load processes")
    parser.add_argument("--threads", type=int, default=8, help="client threads per process")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (the bare endpoint's too)"
    )
    parser.add_argument(
        "--async-commit", action="store_true",
        help="diagnosis only: PostgreSQL without waiting for the WAL flush at commit",
    )  # fmt: skip
    args = parser.parse_args()
    print(
        f"{MEMBERS} members, {PACKETS} packets of {MEMBERS} shares, {args.processes} load "
        f"processes x {args.threads} threads, {args.workers} server worker(s), "
        f"{args.seconds:g} s per measurement, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print("store              bare/s   grab/s  order/s  grab:bare  order:bare")
    failed = False
    with tempfile.TemporaryDirectory() as home:
        os.environ["QUNYUN_HOME"] = home
        for store in _stores(args.stores.split(","), Path(home), async_commit=args.async_commit):
            try:
                figures = _run(store, args)
            finally:
                _drop(store)
            print(
                f"{store.name:<17} {figures['bare']:8.0f} {figures['grab']:8.0f} "
                f"{figures['order']:8.0f}  {figures['grab_ratio']:9.2f}  {figures['order_ratio']:10.2f}"
                f"   (bare before/after {figures['bare_before']:.0f}/{figures['bare_after']:.0f}, "
                f"refused {figures['refused']:.0f}, drain lag {figures['lag']:.2f} s, "
                f"setup {figures['setup']:.0f} s, load {figures['load']:.1f} at the end; "
                "server CPU ms per bare/grab/order request "
                + "/".join(f"{value:.2f}" for value in figures["cpu"])
                + "; PostgreSQL backends' CPU ms per grab/order "
                + "/".join(f"{value:.2f}" for value in figures["database_cpu"])
                + ")"
            )
            failed |= min(figures["grab_ratio"], figures["order_ratio"]) < 0.5
    if failed:
        print("below the target: some ratio under 0.5")


if __name__ == "__main__":
    main()
