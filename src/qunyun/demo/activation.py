"""Activation of the demo: red packets, a live flash sale and a group-buy in the first rep's group.

Made through the same actions operators and members use (send, grab, order, open and join),
so that the demo logins see them in the console and a member link shows them on the H5 pages.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qunyun.activation.flashsales import do_create_flash_sale, do_order_flash_sale
from qunyun.activation.groupbuys import do_create_group_buy, do_join_team, do_open_team
from qunyun.activation.redpackets import (
    do_create_red_packet,
    do_grab_red_packet,
    effective_rule,
)
from qunyun.activation.schedule import in_window, parse_time
from qunyun.channel.models import ContactKind
from qunyun.core.clock import utcnow
from qunyun.groups.models import Group, Matrix, Membership
from qunyun.org.models import Tenant

PACKETS = ((888, 8, 8), (2000, 10, 6), (666, 6, 0))
"""(total fen, shares, grabbed) of the demo's red packets: one all grabbed, one half, one new."""


def _last_sending_moment(
    session: Session, tenant: Tenant, group_id: str, now: datetime
) -> datetime:
    """Return now, or the latest half hour before it when the packets can be sent in a row.

    The packets go out a minute apart, so the window must hold all of them.
    """
    rule = effective_rule(session, tenant, group_id)
    start, end = parse_time(rule.window_start), parse_time(rule.window_end)
    last = timedelta(minutes=len(PACKETS))
    moment = now
    for _ in range(48):
        if in_window(moment, start, end, tenant.timezone) and in_window(
            moment + last, start, end, tenant.timezone
        ):
            return moment
        moment -= timedelta(minutes=30)
    return now


def do_create_demo_activation(
    session: Session, tenant: Tenant, *, seed: int, now: datetime | None = None
) -> str:
    """Send, grab, sell and team up in the first rep's first store group; return a summary.

    The packets are sent inside the group's sending window (now, or the latest half hour
    before now that is inside it) and stay open for the rule's expiry; the sale and the deal
    run from an hour ago for a week.
    """
    now = now or utcnow()
    rng = random.Random(seed)
    first_rep = session.scalar(
        select(func.min(Group.territory_rep_id)).where(
            Group.tenant_id == tenant.id, Group.matrix == Matrix.STORE
        )
    )
    group_id = session.scalar(
        select(func.min(Group.group_id)).where(
            Group.tenant_id == tenant.id,
            Group.matrix == Matrix.STORE,
            Group.territory_rep_id == first_rep,
            Group.archived_at.is_(None),
        )
    )
    if group_id is None:
        return "演示激活：没有终端店群，跳过"
    stores = list(
        session.scalars(
            select(Membership.member_id)
            .where(
                Membership.tenant_id == tenant.id,
                Membership.group_id == group_id,
                Membership.member_kind == ContactKind.STORE,
                Membership.left_at.is_(None),
            )
            .order_by(Membership.member_id)
        )
    )
    sent_at = _last_sending_moment(session, tenant, group_id, now)
    for number, (total_fen, count, grabbed) in enumerate(PACKETS):
        packet = do_create_red_packet(
            session, tenant, group_id, total_fen, count,
            sender_id=first_rep or "hq", when=sent_at + timedelta(minutes=number), rng=rng,
        )  # fmt: skip
        for position, store in enumerate(rng.sample(stores, min(grabbed, len(stores)))):
            do_grab_red_packet(
                session, tenant, packet.id, ContactKind.STORE, store,
                when=packet.created_at + timedelta(seconds=20 * (position + 1)),
            )  # fmt: skip
    starts, ends = now - timedelta(hours=1), now + timedelta(days=7)
    sale = do_create_flash_sale(
        session, tenant, group_id, "QQ-WATER-24", "清泉矿泉水 550ml×24 瓶", 2990, 50, 2,
        starts, ends,
    )  # fmt: skip
    sold = 0
    for buyer in rng.sample(stores, min(5, len(stores))):
        qty = rng.randint(1, 2)
        do_order_flash_sale(session, tenant, sale.id, ContactKind.STORE, buyer, qty, when=now)
        sold += qty
    deal = do_create_group_buy(
        session, tenant, group_id, "QQ-TEA-12", "清泉乌龙茶 500ml×12 瓶 · 3 人团", 3990, 3, 60,
        24 * 60, starts, ends,
    )  # fmt: skip
    teams = [stores[index : index + 3] for index in (0, 3)] if len(stores) >= 5 else []
    for team_number, people in enumerate(teams):
        team = do_open_team(session, tenant, deal.id, ContactKind.STORE, people[0], when=now)
        joining = people[1:] if team_number == 0 else people[1:2]
        for person in joining:
            do_join_team(session, tenant, team.id, ContactKind.STORE, person, when=now)
    return (
        f"演示激活：社群 {group_id} 有 {len(PACKETS)} 个红包、秒杀 #{sale.id}"
        f"（已售 {sold} 件）、拼团 #{deal.id}（{len(teams)} 个团）"
    )
