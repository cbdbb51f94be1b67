"""The budget ledger of operators: its entries always sum to what the month budget spent."""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from qunyun.activation.operations import budget_ledger, budget_uses, do_clear_rule, rules
from qunyun.activation.redpackets import (
    DEFAULT_RULE,
    budget_month,
    do_create_red_packet,
    do_expire_red_packets,
    do_grab_red_packet,
    do_set_rule,
    do_start_relay,
    effective_rule,
)
from qunyun.core.db import unit_of_work
from qunyun.core.errors import Conflict, InvalidInput, NotFound
from qunyun.groups.actions import do_create_group, do_join
from qunyun.groups.models import Matrix, MemberRole
from qunyun.org.actions import do_create_tenant
from qunyun.org.models import Tenant
from tests.activation.helpers import STORE, T0

_numbers = itertools.count(1)
MEMBERS = [f"S{number:03d}" for number in range(1, 6)]

operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(5, 3000), st.integers(1, 5)),
        st.tuples(st.just("relay"), st.integers(5, 500), st.integers(1, 3), st.integers(1, 3)),
        st.tuples(st.just("grab"), st.integers(0, 9), st.integers(0, len(MEMBERS) - 1)),
        st.tuples(st.just("expire")),
    ),
    max_size=12,
)


def _tenant(session: object) -> Tenant:
    found = session.scalar(select(Tenant).where(Tenant.slug == "ledger"))  # type: ignore[attr-defined]
    return found or do_create_tenant(session, "ledger", "预算流水")  # type: ignore[arg-type]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=operations, seed=st.integers(0, 2**16))
def test_the_ledger_sums_to_the_spent_budget(engine: Engine, steps: list[tuple], seed: int) -> None:
    # given a fresh group with five members and a ¥50 monthly budget
    group = f"L{next(_numbers):05d}"
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        do_create_group(session, tenant, group, "流水测试群", Matrix.STORE)
        for member in MEMBERS:
            do_join(session, tenant, group, STORE, member, MemberRole.CUSTOMER, T0)
        rule = effective_rule(session, tenant, group)
        do_set_rule(
            session,
            tenant,
            dataclasses.replace(rule, monthly_budget_fen=5000, min_total_fen=1, scope=group),
        )
    rng, packets, now = random.Random(seed), [], T0

    # when packets and relays are sent, grabbed and expire in any order (refusals included)
    for step in steps:
        try:
            with unit_of_work(engine) as session:
                tenant = _tenant(session)
                if step[0] == "send":
                    packet = do_create_red_packet(
                        session, tenant, group, step[1], step[2], when=now, rng=rng
                    )
                    packets.append(packet.id)
                elif step[0] == "relay":
                    do_start_relay(
                        session, tenant, group, step[1], step[2], step[3], when=now, rng=rng
                    )
                elif step[0] == "grab" and packets:
                    do_grab_red_packet(
                        session, tenant, packets[step[1] % len(packets)], STORE,
                        MEMBERS[step[2]], when=now + timedelta(minutes=1),
                    )  # fmt: skip
                elif step[0] == "expire":
                    now += timedelta(hours=25)
                    do_expire_red_packets(session, tenant, when=now)
        except (Conflict, InvalidInput, NotFound):
            pass

    # then every movement is in the ledger and the entries sum to the month's spending
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        months = {budget_month(T0, tenant.timezone), budget_month(now, tenant.timezone)}
        for month in sorted(months):
            ledger = budget_ledger(session, tenant, group, month)
            assert sum(entry.amount_fen for entry in ledger.entries) == ledger.use.spent_fen
            assert ledger.use.remaining_fen == 5000 - ledger.use.spent_fen
            assert 0 <= ledger.use.spent_fen <= 5000
            listed = {use.group_id: use for use in budget_uses(session, tenant, month)}
            assert listed.get(group, ledger.use).spent_fen == ledger.use.spent_fen


def test_a_cleared_group_rule_falls_back_to_the_tenant_default(
    engine: Engine, tenant: Tenant
) -> None:
    with unit_of_work(engine) as session:
        do_create_group(session, tenant, "G1", "群", Matrix.STORE)
        default = dataclasses.replace(DEFAULT_RULE, monthly_budget_fen=7)
        do_set_rule(session, tenant, default)
        do_set_rule(session, tenant, dataclasses.replace(DEFAULT_RULE, scope="G1"))

    with unit_of_work(engine) as session:
        after = do_clear_rule(session, tenant, "G1")
        left = rules(session, tenant)

    assert after == dataclasses.replace(default, scope="*")
    assert [rule.scope for rule in left] == ["*"]
