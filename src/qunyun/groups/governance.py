"""Read-only checks of the matrices: coverage of active stores, and rule breaches of groups."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind, Store, StoreStatus
from qunyun.core.settings import get_settings
from qunyun.groups.models import Group, Matrix, MemberRole, Membership
from qunyun.groups.queries import open_seats_query
from qunyun.org.models import Staff, Tenant
from qunyun.org.regions import catalogue

FEW_GROUPS = 100
FEW_STORES = 50_000
CHUNK = 5_000
"""Up to this many groups an audit reads only their stays and stores (≤ 100 × 220 ids, within SQLite's 32,766 parameters)."""


@dataclass
class Coverage:
    """How many active stores sit in a store group, per province and rep, and who does not."""

    active: int = 0
    covered: int = 0
    by_region: dict[str, dict[str, int]] = field(default_factory=dict)
    by_rep: dict[str, dict[str, int]] = field(default_factory=dict)
    uncovered: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """Return the figures as plain JSON-ready values."""
        return {
            "active_stores": self.active,
            "covered": self.covered,
            "coverage": round(self.covered / self.active, 4) if self.active else 1.0,
            "by_region": self.by_region,
            "by_rep": self.by_rep,
            "uncovered": self.uncovered,
        }


def store_coverage(
    session: Session, tenant: Tenant, within: ColumnElement[bool] | None = None
) -> Coverage:
    """Return the coverage of the tenant's active stores by store groups (全覆盖).

    ``within`` (a condition on ``Store``, from an access guard) limits the stores counted,
    and the stays read to theirs. When VIP stores leave their base group
    (QUNYUN_VIP_IN_BASE_GROUP=false), a VIP group covers them.
    """
    departed = set(
        session.scalars(
            select(Staff.staff_id).where(Staff.tenant_id == tenant.id, Staff.left_at.is_not(None))
        )
    )
    result = Coverage()
    query = (
        select(Store.store_id, Store.rep_id, Store.region_code)
        .where(Store.tenant_id == tenant.id, Store.status == StoreStatus.ACTIVE)
        .order_by(Store.store_id)
    )
    if within is not None:
        query = query.where(within)
    stores = session.execute(query).all()
    grouped = _grouped_stores(session, tenant, [store_id for store_id, _, _ in stores])
    for store_id, rep_id, region_code in stores:
        province = catalogue().by_code[catalogue().by_code[region_code].province_code].name
        is_covered = store_id in grouped
        result.active += 1
        result.covered += is_covered
        for table, key in ((result.by_region, province), (result.by_rep, rep_id)):
            counts = table.setdefault(key, {"active": 0, "covered": 0})
            counts["active"] += 1
            counts["covered"] += is_covered
        if not is_covered:
            reason = (
                f"业务员 {rep_id} 已离职：请交接（qunyun handover）后重新规划"
                if rep_id in departed
                else "尚未入群：运行 qunyun plan 并 qunyun plan apply"
            )
            result.uncovered.append({"store_id": store_id, "rep_id": rep_id, "reason": reason})
    return result


def _grouped_stores(session: Session, tenant: Tenant, store_ids: list[str]) -> set[str]:
    """Return which of the stores sit in an open store group as customers.

    A scope of a few stores reads their stays by id, in chunks; a large one reads every stay
    of the store matrix once (cheaper than many lookups).
    """
    matrices = [Matrix.STORE] if get_settings().vip_in_base_group else [Matrix.STORE, Matrix.VIP]
    grouped: set[str] = set()
    for matrix in matrices:
        seats = open_seats_query(tenant, matrix).where(
            Membership.member_kind == ContactKind.STORE, Membership.role == MemberRole.CUSTOMER
        )
        if len(store_ids) > FEW_STORES:
            grouped.update(member_id for _, _, member_id, _ in session.execute(seats))
            continue
        for start in range(0, len(store_ids), CHUNK):
            chunk = store_ids[start : start + CHUNK]
            query = seats.where(Membership.member_id.in_(chunk))
            grouped.update(member_id for _, _, member_id, _ in session.execute(query))
    return grouped


@dataclass(frozen=True)
class Breach:
    """A group that breaks a rule of its matrix."""

    group_id: str
    rule: str
    detail: str


CUSTOMER_ROLES = (MemberRole.CUSTOMER, MemberRole.KOL)
CUSTOMER_NOUNS = {
    Matrix.STORE: "家门店",
    Matrix.VIP: "家门店",
    Matrix.DEALER: "家经销商",
    Matrix.CONSUMER: "位消费者",
}


def audit_groups(
    session: Session, tenant: Tenant, within: ColumnElement[bool] | None = None
) -> list[Breach]:
    """Return every rule breach of the open groups of all four matrices, by group and rule.

    ``within`` (a condition on ``Group``, from an access guard) limits the groups checked,
    and the stays and stores read to theirs (a group page reads one group, not the tenant).

    Rules of every group: a group admin holds a seat (``missing_admin``); nobody who left
    holds a staff seat (``departed_staff``); at most QUNYUN_GROUP_MAX_MEMBERS customer
    members — customers and KOLs, a network's tier-1 boss among them (``over_max``). Rules of
    store groups: the serving rep
    and both levels above hold seats (``missing_staff``); customers all from the group's
    territory (``mixed_territory``). The owner is the company, never a person: a group whose
    owner is a staff member breaks the rule (``person_owner``; Qunyun gives every group it
    creates the tenant's company account, a chat platform may say otherwise).
    """
    staff = {
        person.staff_id: person
        for person in session.scalars(select(Staff).where(Staff.tenant_id == tenant.id))
    }
    group_query = select(Group).where(Group.tenant_id == tenant.id, Group.archived_at.is_(None))
    if within is not None:
        group_query = group_query.where(within)
    groups = {group.group_id: group for group in session.scalars(group_query)}
    # a few groups (a group page, a rep's territory) read only their stays and stores; many
    # groups read the whole tenant once, as bound-parameter lists have a limit
    is_few = within is not None and len(groups) <= FEW_GROUPS
    seats_query = open_seats_query(tenant)
    stores_query = select(Store.store_id, Store.rep_id).where(Store.tenant_id == tenant.id)
    if is_few:
        seats_query = seats_query.where(Membership.group_id.in_(sorted(groups)))
    seats: dict[str, set[tuple[ContactKind, str, MemberRole]]] = defaultdict(set)
    for group_id, kind, member_id, role in session.execute(seats_query):
        seats[group_id].add((kind, member_id, role))
    store_groups = {gid for gid, group in groups.items() if group.matrix is Matrix.STORE}
    if is_few:
        store_ids = sorted(
            {
                member_id
                for gid in store_groups
                for kind, member_id, _ in seats.get(gid, ())
                if kind is ContactKind.STORE
            }
        )
        stores_query = stores_query.where(Store.store_id.in_(store_ids))
    rep_of = dict(session.execute(stores_query).all()) if store_groups else {}
    breaches: list[Breach] = []
    most = get_settings().group_max_members
    for group_id, group in sorted(groups.items()):
        members = seats.get(group_id, set())
        staff_ids = {member_id for kind, member_id, _ in members if kind is ContactKind.STAFF}
        if group.owner_id in staff:
            breaches.append(
                Breach(
                    group_id,
                    "person_owner",
                    f"群主是员工 {group.owner_id}，应为公司账号 {tenant.company_account_id}",
                )
            )
        if group.matrix is Matrix.STORE:
            breaches.extend(_missing_chain(group, staff, staff_ids))
        if not any(role is MemberRole.ADMIN for _, _, role in members):
            breaches.append(Breach(group_id, "missing_admin", "缺少群管理员"))
        for member_id in sorted(staff_ids):
            person = staff.get(member_id)
            if person is not None and person.left_at is not None:
                breaches.append(Breach(group_id, "departed_staff", f"{member_id} 已离职仍在群中"))
        customers = [
            (kind, member_id)
            for kind, member_id, role in members
            if kind is not ContactKind.STAFF and role in CUSTOMER_ROLES
        ]
        if len(customers) > most:
            noun = CUSTOMER_NOUNS[group.matrix]
            breaches.append(
                Breach(group_id, "over_max", f"{len(customers)} {noun}，超过上限 {most}")
            )
        if group.matrix is Matrix.STORE:
            rep = group.territory_rep_id
            foreign = Counter(
                rep_of.get(member_id)
                for kind, member_id in customers
                if kind is ContactKind.STORE and rep_of.get(member_id) != rep
            )
            if foreign:
                others = "、".join(
                    f"{other}（{count}）" for other, count in sorted(foreign.items(), key=str)
                )
                breaches.append(
                    Breach(group_id, "mixed_territory", f"混入其他业务员的门店：{others}")
                )
    return breaches


def _missing_chain(group: Group, staff: dict[str, Staff], staff_ids: set[str]) -> list[Breach]:
    """Return the breaches of a store group missing its rep or either level above the rep."""
    rep = group.territory_rep_id
    chain = [rep]
    person = staff.get(rep) if rep else None
    for _ in range(2):
        boss = person.manager_id if person else None
        chain.append(boss)
        person = staff.get(boss) if boss else None
    breaches = []
    for label, wanted in zip(("业务员", "上级", "上上级"), chain, strict=True):
        if wanted is None:
            breaches.append(
                Breach(group.group_id, "missing_staff", f"缺少{label}：组织架构中没有此人")
            )
        elif wanted not in staff_ids:
            breaches.append(Breach(group.group_id, "missing_staff", f"缺少{label} {wanted}"))
    return breaches
