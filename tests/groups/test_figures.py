"""Pre-aggregated figures (coverage cells and gaps, member counts) against a recount from scratch."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind, Store
from qunyun.core import settings as settings_module
from qunyun.core.clock import utcnow
from qunyun.core.db import unit_of_work
from qunyun.groups.actions import do_join, do_leave
from qunyun.groups.figures import coverage_figures, refresh_coverage, refresh_member_counts
from qunyun.groups.governance import store_coverage
from qunyun.groups.models import (
    CoverageCell,
    CoverageGap,
    Group,
    Matrix,
    MemberRole,
    Membership,
)
from qunyun.org.access import ACCOUNT, Actor, coverage_in_scope, stores_in_scope
from qunyun.org.models import AccountRole, Staff, StaffRole, Tenant

from ..conftest import Cli

OPERATIONS = ("import", "plan", "handover", "leave_staff", "join", "leave_group")


def _tenant(session: object) -> Tenant:
    return session.scalars(select(Tenant).where(Tenant.slug == "demo")).one()  # type: ignore[attr-defined, no-any-return]


def _actors(engine: Engine) -> list[Actor]:
    """Return an actor of every role (and the operator) over the demo's people."""
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        staff = {
            role: sorted(
                session.scalars(
                    select(Staff.staff_id).where(Staff.tenant_id == tenant.id, Staff.role == role)
                )
            )
            for role in StaffRole
        }
        admin = session.scalar(
            select(Membership.member_id)
            .where(Membership.tenant_id == tenant.id, Membership.role == MemberRole.ADMIN)
            .order_by(Membership.member_id)
            .limit(1)
        )
        distributor = session.scalar(
            select(Store.distributor_id)
            .where(Store.tenant_id == tenant.id, Store.distributor_id.is_not(None))
            .order_by(Store.store_id)
            .limit(1)
        )
        tenant_id = tenant.id

    def account(role: AccountRole, **ids: str | None) -> Actor:
        return Actor(ACCOUNT, role.value, tenant_id=tenant_id, role=role, **ids)  # type: ignore[arg-type]

    return [
        Actor.operator(),
        account(AccountRole.HQ_ADMIN),
        account(AccountRole.MANAGER, staff_id=staff[StaffRole.MANAGER][0]),
        account(AccountRole.SUPERVISOR, staff_id=staff[StaffRole.SUPERVISOR][0]),
        account(AccountRole.REP, staff_id=staff[StaffRole.REP][0]),
        account(AccountRole.REP, staff_id=staff[StaffRole.REP][-1]),
        account(AccountRole.DISTRIBUTOR, distributor_id=distributor),
        account(AccountRole.GROUP_ADMIN, staff_id=admin),
    ]


def _assert_figures_match_a_recount(engine: Engine, actors: list[Actor]) -> None:
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        for actor in actors:
            recount = store_coverage(session, tenant, stores_in_scope(session, actor, tenant))
            figures = coverage_figures(session, tenant, coverage_in_scope(session, actor, tenant))
            assert figures.as_dict() == recount.as_dict(), actor
            assert figures.uncovered_count == recount.active - recount.covered
            first = coverage_figures(
                session, tenant, coverage_in_scope(session, actor, tenant), uncovered_limit=3
            )
            assert first.uncovered == recount.uncovered[:3]
        counted = dict(
            session.execute(
                select(Membership.group_id, func.count())
                .where(Membership.tenant_id == tenant.id, Membership.left_at.is_(None))
                .group_by(Membership.group_id)
            ).all()
        )
        kept = dict(
            session.execute(
                select(Group.group_id, Group.member_count).where(Group.tenant_id == tenant.id)
            ).all()
        )
        assert kept == {group_id: counted.get(group_id, 0) for group_id in kept}
    # the tables themselves, moved by differences store by store, equal a recount from scratch
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        kept_tables = _coverage_tables(session, tenant)
        refresh_coverage(session, tenant)
        assert kept_tables == _coverage_tables(session, tenant)
        session.rollback()


def _coverage_tables(session: Session, tenant: Tenant) -> tuple[set[tuple[object, ...]], ...]:
    return tuple(
        {
            tuple(row)
            for row in session.execute(
                select(*table.__table__.columns).where(table.tenant_id == tenant.id)  # type: ignore[attr-defined]
            )
        }
        for table in (CoverageCell, CoverageGap)
    )


def _store_file(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["store_id,name,province,city,district,store_type,rep_id,status"]
    lines += [
        f"{store},店{store},广东,广州,天河,便利店,{rep},{status}" for store, rep, status in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _step(engine: Engine, cli: Cli, folder: Path, operation: str, rng: random.Random) -> None:
    """Change the channel or the groups the way users do: commands and actions."""
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        reps = sorted(
            session.scalars(
                select(Staff.staff_id).where(
                    Staff.tenant_id == tenant.id,
                    Staff.role == StaffRole.REP,
                    Staff.left_at.is_(None),
                )
            )
        )
        stores = sorted(session.scalars(select(Store.store_id).where(Store.tenant_id == tenant.id)))
        groups = sorted(
            session.scalars(
                select(Group.group_id).where(
                    Group.tenant_id == tenant.id,
                    Group.archived_at.is_(None),
                    Group.matrix.in_([Matrix.STORE, Matrix.VIP]),
                )
            )
        )
    if operation == "import":  # new stores, closed and reopened ones, stores changing reps
        new = [f"NEW{number:03d}" for number in rng.sample(range(40), 3)]
        known = rng.sample([store for store in stores if store not in new], 4)
        rows = [(store, rng.choice(reps), "营业") for store in new]
        rows += [(store, rng.choice(reps), rng.choice(("营业", "关闭"))) for store in known]
        path = _store_file(folder / f"stores-{rng.randrange(10**9)}.csv", rows)
        cli("import", "stores", path)
    elif operation == "plan":
        cli("plan")
        cli("plan", "apply")
    elif operation == "handover" and len(reps) > 2:
        giver, taker = rng.sample(reps, 2)
        cli("handover", "--from", giver, "--to", taker)
    elif operation == "leave_staff" and len(reps) > 4:
        cli("staff", "leave", rng.choice(reps))
    elif operation in ("join", "leave_group"):
        store, group = rng.choice(stores), rng.choice(groups)
        with unit_of_work(engine) as session:
            tenant = _tenant(session)
            stays = set(
                session.scalars(
                    select(Membership.group_id).where(
                        Membership.tenant_id == tenant.id,
                        Membership.member_kind == ContactKind.STORE,
                        Membership.member_id == store,
                        Membership.left_at.is_(None),
                    )
                )
            )
            if operation == "join" and group not in stays:
                do_join(session, tenant, group, ContactKind.STORE, store, MemberRole.CUSTOMER)
            elif stays:
                do_leave(session, tenant, sorted(stays)[0], ContactKind.STORE, store)


@pytest.mark.parametrize("vip_in_base_group", ["true", "false"])
def test_figures_match_a_recount_after_random_changes(
    cli: Cli,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    vip_in_base_group: str,
) -> None:
    # given the demo brand with its matrix applied
    monkeypatch.setenv("QUNYUN_VIP_IN_BASE_GROUP", vip_in_base_group)
    settings_module.get_settings.cache_clear()
    cli("demo", "--stores", "300", "--consumers", "200", "--no-serve", "--days", "0")
    actors = _actors(engine)
    _assert_figures_match_a_recount(engine, actors)

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        operations=st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=4),
        seed=st.integers(0, 2**32 - 1),
    )
    def check(operations: list[str], seed: int) -> None:
        # when users import, plan, hand over, leave, join and leave groups in any order
        rng = random.Random(seed)
        for operation in operations:
            _step(engine, cli, tmp_path, operation, rng)
        # then every figure equals its recount from the stores and stays, for every role
        _assert_figures_match_a_recount(engine, actors)

    check()


def test_a_full_refresh_mends_figures_left_behind_by_raw_sql(cli: Cli, engine: Engine) -> None:
    # given figures that a write around the actions left behind
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        session.execute(
            update(Membership)
            .where(Membership.tenant_id == tenant.id, Membership.member_id == "ST0000001")
            .values(left_at=utcnow())
        )
        before = coverage_figures(
            session, tenant, coverage_in_scope(session, Actor.operator(), tenant)
        )
        version = tenant.figures_version

    # when every figure is recomputed
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        refresh_coverage(session, tenant)
        refresh_member_counts(session, tenant)

    # then they match the recount again, and the version moved
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        after = coverage_figures(
            session, tenant, coverage_in_scope(session, Actor.operator(), tenant)
        )
        recount = store_coverage(session, tenant)
        assert (before.covered, before.uncovered) == (recount.covered + 1, [])
        assert after.as_dict() == recount.as_dict()
        assert [row["store_id"] for row in after.uncovered] == ["ST0000001"]
        assert tenant.figures_version == version + 2
    _assert_figures_match_a_recount(engine, _actors(engine))


def test_a_full_refresh_of_one_brand_keeps_the_gaps_of_another(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # given the demo brand planned and applied, and a second brand with the same channel
    # imported but no groups: every one of its active stores is a gap
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")
    cli("tenant", "create", "other", "--name", "另一品牌")
    files = tmp_path / "home" / "demo"
    for entity in ("staff", "distributors", "stores"):
        cli("import", entity, str(files / f"{entity}.csv"), "--tenant", "other")
    with unit_of_work(engine) as session:
        other = session.scalars(select(Tenant).where(Tenant.slug == "other")).one()
        other_tables = _coverage_tables(session, other)
        active = session.scalar(
            select(func.count()).where(Store.tenant_id == other.id, Store.status == "active")
        )

    # when the demo brand's figures are recomputed whole
    with unit_of_work(engine) as session:
        refresh_coverage(session, _tenant(session))

    # then the other brand's cells and gaps are exactly as they were, and the demo's match
    # their recount
    with unit_of_work(engine) as session:
        other = session.scalars(select(Tenant).where(Tenant.slug == "other")).one()
        assert _coverage_tables(session, other) == other_tables
        assert len(other_tables[1]) == active
    _assert_figures_match_a_recount(engine, _actors(engine))
