from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from qunyun.channel.models import ContactKind
from qunyun.core.db import unit_of_work
from qunyun.core.errors import Conflict, NotFound
from qunyun.groups.actions import do_create_group, do_join, do_leave
from qunyun.groups.models import Group, Matrix, MemberRole, Membership
from qunyun.org.models import Tenant

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _group(engine: Engine, tenant: Tenant) -> None:
    with unit_of_work(engine) as session:
        do_create_group(session, tenant, "G001", "广州天河·便利店A类·服务群 01", Matrix.STORE)


def test_leaving_and_rejoining_keeps_every_stay(engine: Engine, tenant: Tenant) -> None:
    # given
    _group(engine, tenant)
    kind = ContactKind.STORE

    # when a store joins, leaves and joins again
    with unit_of_work(engine) as session:
        do_join(session, tenant, "G001", kind, "S1", MemberRole.CUSTOMER, T0)
    with unit_of_work(engine) as session:
        do_leave(session, tenant, "G001", kind, "S1", T0 + timedelta(days=10))
    with unit_of_work(engine) as session:
        do_join(session, tenant, "G001", kind, "S1", MemberRole.CUSTOMER, T0 + timedelta(days=20))

    # then both stays are there, the first closed, the second open
    with unit_of_work(engine) as session:
        stays = session.execute(
            select(Membership.joined_at, Membership.left_at).order_by(Membership.joined_at)
        ).all()
    assert [tuple(stay) for stay in stays] == [
        (T0, T0 + timedelta(days=10)),
        (T0 + timedelta(days=20), None),
    ]


def test_a_member_cannot_be_in_a_group_twice(engine: Engine, tenant: Tenant) -> None:
    _group(engine, tenant)
    with unit_of_work(engine) as session:
        do_join(session, tenant, "G001", ContactKind.STAFF, "R1", MemberRole.REP, T0)

    with (
        pytest.raises(Conflict, match=r"^staff R1 已在社群 G001 中$"),
        unit_of_work(engine) as session,
    ):
        do_join(session, tenant, "G001", ContactKind.STAFF, "R1", MemberRole.REP, T0)
    # the database refuses a second open stay even when the action's check is bypassed
    with pytest.raises(IntegrityError), unit_of_work(engine) as session:
        session.add(
            Membership(
                tenant_id=tenant.id,
                group_id="G001",
                member_kind=ContactKind.STAFF,
                member_id="R1",
                role=MemberRole.REP,
                joined_at=T0,
            )
        )


def test_unknown_group_and_absent_member_are_clear_errors(engine: Engine, tenant: Tenant) -> None:
    _group(engine, tenant)

    with pytest.raises(NotFound, match=r"^没有社群 G404$"), unit_of_work(engine) as session:
        do_join(session, tenant, "G404", ContactKind.STORE, "S1", MemberRole.CUSTOMER)
    with (
        pytest.raises(NotFound, match=r"^store S1 不在社群 G001 中$"),
        unit_of_work(engine) as session,
    ):
        do_leave(session, tenant, "G001", ContactKind.STORE, "S1")
    with pytest.raises(Conflict, match=r"^社群 G001 已存在$"), unit_of_work(engine) as session:
        do_create_group(session, tenant, "G001", "x", Matrix.VIP)


def test_group_times_are_stored_in_utc_and_come_back_aware(engine: Engine, tenant: Tenant) -> None:
    _group(engine, tenant)
    shanghai_morning = datetime.fromisoformat("2026-03-01T09:30:00+08:00")
    with unit_of_work(engine) as session:
        do_join(
            session, tenant, "G001", ContactKind.STORE, "S1", MemberRole.CUSTOMER, shanghai_morning
        )

    with unit_of_work(engine) as session:
        joined = session.scalars(select(Membership.joined_at)).one()
        group = session.get(Group, (tenant.id, "G001"))

    assert joined == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert joined.tzinfo is UTC
    assert group is not None
    assert group.created_at.tzinfo is UTC
