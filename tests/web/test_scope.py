"""Each role sees exactly its scope, computed here independently from the demo's rows."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from qunyun.channel.models import ContactKind, Distributor, Store
from qunyun.core.db import unit_of_work
from qunyun.demo.build import DEMO_PASSWORD
from qunyun.groups.models import Group, MemberRole, Membership
from qunyun.org.models import Staff
from qunyun.org.regions import catalogue

from ..conftest import Cli
from .conftest import bearer


def _seen(client: TestClient, username: str) -> tuple[list[str], list[str]]:
    headers = bearer(client, username)
    groups = client.get("/api/v1/groups", params={"limit": 500}, headers=headers).json()
    stores = client.get("/api/v1/stores", params={"limit": 500}, headers=headers).json()
    assert groups["next_cursor"] is None
    assert stores["next_cursor"] is None
    return [g["id"] for g in groups["items"]], [s["id"] for s in stores["items"]]


def _open_groups(engine: Engine) -> dict[str, Group]:
    with unit_of_work(engine) as session:
        return {
            group.group_id: group
            for group in session.scalars(select(Group).where(Group.archived_at.is_(None)))
        }


def _stays(engine: Engine) -> list[tuple[str, ContactKind, str, MemberRole]]:
    with unit_of_work(engine) as session:
        return [
            (row.group_id, row.member_kind, row.member_id, row.role)
            for row in session.scalars(select(Membership).where(Membership.left_at.is_(None)))
        ]


def _stores(engine: Engine) -> list[Store]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(Store).order_by(Store.store_id)))


def test_supervisor_sees_the_territories_of_his_reps(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        reps = set(session.scalars(select(Staff.staff_id).where(Staff.manager_id == "S001")))
    groups = _open_groups(engine)

    seen_groups, seen_stores = _seen(client, "supervisor")

    assert reps == {"R0001", "R0002", "R0003"}
    assert seen_groups == sorted(g for g, row in groups.items() if row.territory_rep_id in reps)
    assert seen_stores == [s.store_id for s in _stores(engine) if s.rep_id in reps]


def test_manager_sees_his_region(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        region = session.scalar(select(Staff.region_code).where(Staff.staff_id == "M01"))
    assert region == "440000"  # 广东省
    groups = _open_groups(engine)

    seen_groups, seen_stores = _seen(client, "manager")

    in_region = [
        s.store_id
        for s in _stores(engine)
        if catalogue().by_code[s.region_code].province_code == region
    ]
    assert seen_stores == in_region
    assert seen_groups == sorted(g for g, row in groups.items() if row.region_code == region)


def test_distributor_sees_his_network(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        parents = dict(
            session.execute(select(Distributor.distributor_id, Distributor.parent_id)).all()
        )
    network = {"DS0001"}
    while True:
        below = {d for d, parent in parents.items() if parent in network} - network
        if not below:
            break
        network |= below
    supplied = {s.store_id for s in _stores(engine) if s.distributor_id in network}
    member_groups = {
        group_id
        for group_id, kind, member_id, _ in _stays(engine)
        if (kind is ContactKind.DISTRIBUTOR and member_id in network)
        or (kind is ContactKind.STORE and member_id in supplied)
    }

    seen_groups, seen_stores = _seen(client, "distributor")

    assert len(network) == 1 + 3 + 3 * 2
    assert seen_stores == sorted(supplied)
    assert seen_groups == sorted(member_groups)


def test_group_admin_sees_the_groups_he_runs(client: TestClient, engine: Engine) -> None:
    stays = _stays(engine)
    runs = {g for g, kind, member, role in stays if member == "A01" and role is MemberRole.ADMIN}
    stores = {m for g, kind, m, _ in stays if g in runs and kind is ContactKind.STORE}

    seen_groups, seen_stores = _seen(client, "admin")

    assert seen_groups == sorted(runs)
    assert seen_stores == sorted(stores)


def test_hq_and_analyst_see_everything(client: TestClient, engine: Engine) -> None:
    every_group = sorted(_open_groups(engine))
    every_store = [s.store_id for s in _stores(engine)]

    assert _seen(client, "hq") == (every_group, every_store)
    assert _seen(client, "analyst") == (every_group, every_store)


def test_scopes_nest_up_the_chain(client: TestClient) -> None:
    rep, supervisor, manager, hq = (
        tuple(set(ids) for ids in _seen(client, name))
        for name in ("rep", "supervisor", "manager", "hq")
    )

    # the demo's Guangdong has one supervisor, so his stores are all of his manager's
    assert (rep[1] < supervisor[1], supervisor[1] == manager[1], manager[1] < hq[1]) == (
        True,
        True,
        True,
    )
    assert (rep[0] < supervisor[0], supervisor[0] <= manager[0], manager[0] < hq[0]) == (
        True,
        True,
        True,
    )


def test_every_role_gets_its_coverage_and_audit(client: TestClient, engine: Engine) -> None:
    # coverage and audit of each scope answer quickly on both backends (no tenant-wide reads
    # through nested membership subqueries)
    for username in ("rep", "supervisor", "manager", "admin", "distributor", "hq"):
        headers = bearer(client, username)
        started = time.monotonic()
        coverage = client.get("/api/v1/coverage", headers=headers)
        audit = client.get("/api/v1/audit", headers=headers)
        elapsed = time.monotonic() - started

        _, stores = _seen(client, username)
        active = {s.store_id for s in _stores(engine) if s.status == "active"}
        assert coverage.json()["active_stores"] == len(active & set(stores)), username
        assert coverage.json()["coverage"] == 1.0, username
        assert audit.json() == {"breaches": []}, username
        assert elapsed < 10, (username, elapsed)


def test_a_director_as_manager_sees_his_whole_organisation(
    client: TestClient, engine: Engine, demo: Cli
) -> None:
    demo(
        "user", "create", "-t", "demo", "--username", "boss", "--password", DEMO_PASSWORD,
        "--role", "manager", "--staff-id", "D0001",
    )  # fmt: skip

    seen_groups, seen_stores = _seen(client, "boss")

    store_groups = sorted(
        g for g, row in _open_groups(engine).items() if row.territory_rep_id is not None
    )
    assert seen_stores == [s.store_id for s in _stores(engine)]
    assert seen_groups == store_groups
