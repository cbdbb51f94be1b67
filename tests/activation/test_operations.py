"""The budget ledger of operators: its entries always sum to what the month budget spent."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from qunyun.activation.flashsales import (
    do_create_flash_sale,
    do_order_flash_sale,
    flash_sale_detail,
)
from qunyun.activation.groupbuys import (
    do_create_group_buy,
    do_join_team,
    do_open_team,
    group_buy_detail,
)
from qunyun.activation.models import TeamStatus
from qunyun.activation.operations import (
    DealFigures,
    OfferStatus,
    SaleFigures,
    budget_ledger,
    budget_uses,
    do_clear_rule,
    flash_sales,
    group_buys,
    rules,
)
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


offer_steps = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.integers(0, len(MEMBERS) - 1), st.integers(1, 3)),
        st.tuples(st.just("open"), st.integers(0, len(MEMBERS) - 1)),
        st.tuples(st.just("join"), st.integers(0, 9), st.integers(0, len(MEMBERS) - 1)),
    ),
    max_size=14,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=offer_steps)
def test_the_offer_listings_count_what_the_details_show(engine: Engine, steps: list[tuple]) -> None:
    # given a group of five members with a live flash sale (6 units, 3 each) and a deal
    # (teams of 2 within 30 minutes, 5 units), both from T0 for an hour
    group = f"O{next(_numbers):05d}"
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        do_create_group(session, tenant, group, "秒杀拼团测试群", Matrix.STORE)
        for member in MEMBERS:
            do_join(session, tenant, group, STORE, member, MemberRole.CUSTOMER, T0)
        end = T0 + timedelta(hours=1)
        sale_id = do_create_flash_sale(session, tenant, group, "S", "水", 100, 6, 3, T0, end).id
        deal_id = do_create_group_buy(session, tenant, group, "D", "茶", 200, 2, 5, 30, T0, end).id
    at, teams = T0 + timedelta(minutes=5), []

    # when members order, open teams and join them in any order (refusals included)
    for step in steps:
        try:
            with unit_of_work(engine) as session:
                tenant = _tenant(session)
                if step[0] == "order":
                    do_order_flash_sale(
                        session, tenant, sale_id, STORE, MEMBERS[step[1]], step[2], when=at
                    )
                elif step[0] == "open":
                    team = do_open_team(session, tenant, deal_id, STORE, MEMBERS[step[1]], when=at)
                    teams.append(team.id)
                elif teams:
                    do_join_team(
                        session, tenant, teams[step[1] % len(teams)], STORE, MEMBERS[step[2]],
                        when=at,
                    )  # fmt: skip
        except (Conflict, InvalidInput, NotFound):
            pass

    # then each listing row holds exactly what its detail shows, and both are live
    with unit_of_work(engine) as session:
        tenant = _tenant(session)
        [sale_row] = flash_sales(session, tenant, group, when=at)
        [deal_row] = group_buys(session, tenant, group, when=at)
        sale = flash_sale_detail(session, tenant, sale_id)
        deal = group_buy_detail(session, tenant, deal_id)
    for row, view in ((sale_row, sale), (deal_row, deal)):
        common = ("id", "group_id", "sku", "title", "price_fen", "stock", "sold", "starts_at")
        assert [getattr(row, name) for name in (*common, "ends_at")] == [
            getattr(view, name) for name in (*common, "ends_at")
        ]
        assert row.status == OfferStatus.LIVE
    assert sale_row.figures == SaleFigures(per_member_limit=3, orders=len(sale.orders))
    assert sale_row.sold == sum(order.qty for order in sale.orders) <= 6
    statuses = Counter(team.status for team in deal.teams)
    assert deal_row.figures == DealFigures(
        team_size=2, team_minutes=30, reserved=deal.reserved,
        open_teams=statuses[TeamStatus.OPEN], complete_teams=statuses[TeamStatus.COMPLETE],
    )  # fmt: skip
    assert deal_row.sold == 2 * statuses[TeamStatus.COMPLETE]
    assert deal_row.figures.reserved == statuses[TeamStatus.OPEN]
