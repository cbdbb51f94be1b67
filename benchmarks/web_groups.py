"""Benchmark: `GET /api/v1/groups` and the console overview under 20 concurrent clients.

Builds the demo brand of N stores on SQLite (staff, distributors, stores imported; the matrix
planned and applied), fills the event lake with 90 days of group activity (``--events``
messages spread over the groups: lively, quiet, dormant and dead ones), serves the app with
``qunyun serve --workers W`` on loopback, and runs ``--clients`` client threads against each
endpoint for ``--seconds`` seconds: a static file (the server's floor, the baseline of the
same run), HQ paging through groups (random cursors, 50 a page), a rep's first page, and the
overview of HQ, a manager, a supervisor and a rep. Prints latency percentiles and the load
average as a Markdown table. ``--home DIR`` keeps the built tenant and reuses it next time
(the 2,000,000-store build takes a quarter of an hour).

    .venv/bin/python benchmarks/web_groups.py --stores 200000 --events 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

PASSWORD = "bench-password-1"
FILE_NAMES = ("staff", "distributors", "stores", "consumers")


def _build(stores: int, events: int, work: Path) -> list[str]:
    """Build the tenant ``bench`` and its lake; return the ids of its open groups."""
    from sqlalchemy import select

    from qunyun.channel.imports import do_import
    from qunyun.core.db import get_engine, unit_of_work
    from qunyun.demo.generator import DemoFiles, generate
    from qunyun.events.actions import do_ingest_events
    from qunyun.events.schema import FIELDS
    from qunyun.groups.models import Group
    from qunyun.groups.plans import do_apply_plan, do_compute_plan
    from qunyun.org.actions import do_create_tenant

    started = time.perf_counter()
    folder = work / "files"
    files = DemoFiles(*(folder / f"{name}.csv" for name in FILE_NAMES), counts={})
    if not all(path.exists() for path in (files.staff, files.distributors, files.stores)):
        files = generate(folder, stores=stores, consumers=0)  # deterministic: kept for reruns
    engine = get_engine()
    with unit_of_work(engine) as session:
        tenant = do_create_tenant(session, "bench", "bench")
    for entity, path in (
        ("staff", files.staff),
        ("distributors", files.distributors),
        ("stores", files.stores),
    ):
        with unit_of_work(engine) as session:
            do_import(session, tenant, entity, path)
    with unit_of_work(engine) as session:
        do_compute_plan(session, tenant, "bench")
    with unit_of_work(engine) as session:
        do_apply_plan(session, tenant, "bench")
    with unit_of_work(engine) as session:
        groups = list(
            session.scalars(
                select(Group.group_id)
                .where(Group.tenant_id == tenant.id, Group.archived_at.is_(None))
                .order_by(Group.group_id)
            )
        )
    print(f"built {stores:,} stores, {len(groups):,} groups", file=sys.stderr)

    rng = np.random.default_rng(7)
    # a quarter dead, a sixth dormant (talk only before the last 28 days), the rest alive
    kind = rng.choice(4, size=len(groups), p=[0.25, 0.17, 0.18, 0.40])
    weight = np.where(kind == 0, 0.0, np.where(kind == 2, 0.2, 1.0))
    group = rng.choice(len(groups), size=events, p=weight / weight.sum())
    youngest = np.where(kind[group] == 1, 30, 0)
    age = rng.integers(youngest, 90)
    zone = ZoneInfo("Asia/Shanghai")
    last = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(1)
    base_ms = int(last.astimezone(UTC).timestamp() * 1000)
    ts = base_ms - age * 86_400_000 + rng.integers(8 * 3_600_000, 22 * 3_600_000, size=events)
    member = group * 60 + rng.integers(0, 60, size=events)
    is_staff = rng.random(events) < 0.05
    columns: dict[str, list[str | None]] = {
        "event_id": [f"b{i}" for i in range(events)],
        "ts": [str(value) for value in ts],
        "kind": ["message"] * events,
        "group_id": [groups[g] for g in group],
        "member_kind": ["staff" if staff else "store" for staff in is_staff],
        "member_id": [
            f"R{m % 800:04d}" if staff else f"M{m:08d}"
            for m, staff in zip(member, is_staff, strict=True)
        ],
        "msg_type": ["text"] * events,
    }
    table = pa.table(
        {name: pa.array(columns.get(name, [None] * events), pa.string()) for name in FIELDS}
    )
    result = do_ingest_events(tenant, table)
    print(
        f"lake: {result.accepted:,} events over {len(result.days)} days; "
        f"built in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return groups


def _built(work: Path) -> list[str]:
    """Return the open groups of the tenant built earlier in ``work`` (migrated first)."""
    from sqlalchemy import select

    from qunyun.core.db import get_engine, unit_of_work
    from qunyun.groups.models import Group
    from qunyun.org.models import Tenant

    with unit_of_work(get_engine()) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "bench")).one()
        groups = list(
            session.scalars(
                select(Group.group_id)
                .where(Group.tenant_id == tenant.id, Group.archived_at.is_(None))
                .order_by(Group.group_id)
            )
        )
    print(f"reusing {work}: {len(groups):,} groups", file=sys.stderr)
    return groups


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(port: int, workers: int) -> subprocess.Popen[bytes]:
    """Start ``qunyun serve --workers N`` on loopback; return once it accepts connections."""
    qunyun = str(Path(sys.executable).with_name("qunyun"))
    command = [qunyun, "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(2 * workers)  # every worker up, not only the first
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def _accounts() -> dict[str, str]:
    """Make sure the logins exist (hq, rep, supervisor, manager); return who they are."""
    from sqlalchemy import select

    from qunyun.core.db import get_engine, unit_of_work
    from qunyun.org.accounts import do_create_account
    from qunyun.org.models import Account, Staff, StaffRole, Tenant

    with unit_of_work(get_engine()) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "bench")).one()
        have = set(session.scalars(select(Account.username).where(Account.tenant_id == tenant.id)))
        rep = "R0001"
        supervisor = session.scalar(
            select(Staff.manager_id).where(Staff.tenant_id == tenant.id, Staff.staff_id == rep)
        )
        manager = session.scalar(
            select(Staff.manager_id).where(
                Staff.tenant_id == tenant.id, Staff.staff_id == supervisor
            )
        )
        people = {"hq": None, "rep": rep, "supervisor": supervisor, "manager": manager}
        roles = {"hq": "hq_admin", "rep": "rep", "supervisor": "supervisor", "manager": "manager"}
        for username, staff_id in people.items():
            if username not in have:
                do_create_account(
                    session, tenant, username, PASSWORD, roles[username], staff_id=staff_id
                )
        assert session.get(Staff, (tenant.id, manager)).role is StaffRole.MANAGER  # type: ignore[union-attr]
    return {name: staff_id or "" for name, staff_id in people.items()}


def _bearer(base: str, username: str) -> dict[str, str]:
    import httpx

    response = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"tenant": "bench", "username": username, "password": PASSWORD},
        timeout=120,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _console(base: str, username: str) -> Any:
    import httpx

    client = httpx.Client(base_url=base, timeout=120)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    response = client.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "tenant": "bench",
            "username": username,
            "password": PASSWORD,
            "next": "/",
        },
    )
    assert response.status_code == 303, response.text
    return client


def _load(
    name: str, make_request: object, clients: int, seconds: float, failures: list[str]
) -> list[float]:
    """Run ``clients`` threads calling ``make_request(rng)`` for ``seconds``; return latencies.

    Answers other than 200 are added to ``failures`` (their latency is counted too).
    """
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                status = make_request(rng)  # type: ignore[operator]
            except Exception as error:  # a timeout of the client counts as a failure
                status = type(error).__name__
            mine.append(time.perf_counter() - start)
            if status != 200:
                failures.append(f"{name}: {status}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--home",
        type=Path,
        help="keep the built tenant in this QUNYUN_HOME and reuse it on the next run",
    )
    parser.add_argument("--build-only", action="store_true", help="build, then stop")
    parser.add_argument("--workers", type=int, default=2, help="qunyun serve --workers")
    args = parser.parse_args()
    work = args.home or Path(tempfile.mkdtemp(prefix="qunyun-web-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["QUNYUN_HOME"] = str(work)
    os.environ["QUNYUN_SECRET_KEY"] = "bench-" + "k" * 40
    os.environ.pop("QUNYUN_DATABASE_URL", None)
    groups = _built(work) if (work / "built").exists() else None
    if groups is None:
        groups = _build(args.stores, args.events, work)
        (work / "built").write_text(f"{args.stores} {args.events}\n")
    if args.build_only:
        return

    import httpx

    people = _accounts()
    port = _free_port()
    server = _serve(port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        local = threading.local()
        tokens = {username: _bearer(base, username) for username in ("hq", "rep")}
        cookies = {username: _console(base, username).cookies for username in people}

        def api_client(username: str) -> httpx.Client:
            clients = local.__dict__.setdefault("api", {})
            if username not in clients:
                clients[username] = httpx.Client(
                    base_url=base, headers=tokens[username], timeout=120
                )
            return clients[username]  # type: ignore[no-any-return]

        def hq_pages(rng: random.Random) -> int:
            cursor = rng.choice(groups)
            response = api_client("hq").get(
                "/api/v1/groups", params={"limit": 50, "cursor": cursor}
            )
            return response.status_code

        def rep_pages(rng: random.Random) -> int:
            return api_client("rep").get("/api/v1/groups", params={"limit": 50}).status_code

        def floor(rng: random.Random) -> int:
            return api_client("hq").get("/static/favicon.svg").status_code

        def overview(username: str) -> object:
            def call(rng: random.Random) -> int:
                consoles = local.__dict__.setdefault("consoles", {})
                if username not in consoles:  # one login per user, its cookie in every thread
                    consoles[username] = httpx.Client(
                        base_url=base, cookies=cookies[username], timeout=120
                    )
                return consoles[username].get("/").status_code  # type: ignore[no-any-return]

            return call

        runs = [
            ("static file (the server's floor)", floor),
            ("`GET /api/v1/groups?limit=50&cursor=…` (HQ, random pages)", hq_pages),
            (f"`GET /api/v1/groups?limit=50` (rep {people['rep']})", rep_pages),
            ("overview `/` (HQ: every store and group)", overview("hq")),
            (f"overview `/` (manager {people['manager']})", overview("manager")),
            (f"overview `/` (supervisor {people['supervisor']})", overview("supervisor")),
            (f"overview `/` (rep {people['rep']})", overview("rep")),
        ]
        rows = []
        for name, call in runs:
            _load(name, call, args.clients, 3.0, [])  # warm up: logins, caches, lake figures
            failures: list[str] = []
            load = os.getloadavg()[0]
            latencies = np.array(_load(name, call, args.clients, args.seconds, failures)) * 1000
            statuses = sorted(set(failures))
            rows.append(
                f"| {name} | {len(latencies):,} ({len(failures)} failed"
                f"{': ' + ', '.join(statuses) if statuses else ''}) | "
                f"{len(latencies) / args.seconds:.1f}/s | "
                f"{np.percentile(latencies, 50):.0f} ms | {np.percentile(latencies, 95):.0f} ms | "
                f"**{np.percentile(latencies, 99):.0f} ms** | {latencies.max():.0f} ms | "
                f"{load:.1f} |"
            )
            print(rows[-1], file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"\n{args.stores:,} stores, {len(groups):,} groups, {args.events:,} events, "
        f"{args.clients} clients, {args.workers} workers, {args.seconds:.0f} s each, "
        f"{datetime.now(UTC):%Y-%m-%d}\n"
    )
    print("| endpoint | requests (failed) | throughput | p50 | p95 | p99 | max | load |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
