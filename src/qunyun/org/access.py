"""Access guards: the one place that decides which tenant data an actor may reach.

Actors: the command-line operator (the whole tenant they name), a person logged in to the
console or the API (an account with a role), and a machine holding an integration token
(only its scopes, no reads). Scope of the roles:

- ``hq_admin`` and ``analyst``: the whole tenant (the analyst only reads);
- ``manager``: the stores and groups of his region, and those of the people below him (a
  director without a region sees his whole organisation's);
- ``supervisor``: the stores and store groups of the reps who report to him;
- ``rep``: the stores and store groups of his territory;
- ``group_admin``: the groups in which he holds the admin seat, and their stores;
- ``distributor``: his network (his distributor and every lower tier under it), the stores
  it supplies, and the groups where any of them is a member.

Everything outside an actor's scope is reported as not found, so that its existence is not
revealed. Role rights (who may plan, hand over, cut off 接龙 brand-wide) are checked here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind, Distributor, Store
from qunyun.core.errors import Forbidden, InvalidInput, NotFound
from qunyun.groups.figures import CoverageScope
from qunyun.groups.models import CoverageCell, CoverageGap, Group, MemberRole, Membership
from qunyun.org.models import Account, AccountRole, RegionRow, Staff, StaffRole, Tenant

OPERATOR, ACCOUNT, INTEGRATION = "operator", "account", "integration"
WHOLE_TENANT = (AccountRole.HQ_ADMIN, AccountRole.ANALYST)


@dataclass(frozen=True)
class Actor:
    """Who acts: the CLI ``operator``, an ``account`` (a person with a role) or an ``integration``."""

    kind: str
    name: str
    tenant_id: int | None = None
    role: AccountRole | None = None
    staff_id: str | None = None
    distributor_id: str | None = None
    account_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def operator(cls, name: str = "cli") -> Actor:
        """Return the command-line operator, who may reach every row of a named tenant."""
        return cls(OPERATOR, name)

    @classmethod
    def for_account(cls, account: Account) -> Actor:
        """Return the actor of a logged-in person."""
        return cls(
            ACCOUNT,
            account.username,
            tenant_id=account.tenant_id,
            role=account.role,
            staff_id=account.staff_id,
            distributor_id=account.distributor_id,
            account_id=account.id,
        )

    @classmethod
    def integration(cls, tenant_id: int, name: str, scopes: frozenset[str]) -> Actor:
        """Return a machine that holds an integration token with ``scopes``."""
        return cls(INTEGRATION, name, tenant_id=tenant_id, scopes=scopes)

    @property
    def sees_whole_tenant(self) -> bool:
        """Return whether the actor's scope is the whole tenant."""
        return self.kind == OPERATOR or (self.kind == ACCOUNT and self.role in WHOLE_TENANT)


def access_tenant(session: Session, actor: Actor, slug: str | None) -> Tenant:
    """Return the tenant ``slug`` names, or the only tenant when ``slug`` is None.

    Raise NotFound when no tenant has that slug (or the actor belongs to another tenant),
    and InvalidInput when ``slug`` is None while there is not exactly one tenant.
    """
    if actor.tenant_id is not None:
        own = session.get(Tenant, actor.tenant_id)
        if own is None or (slug is not None and own.slug != slug):
            raise NotFound(f"没有名为 {slug!r} 的租户（品牌）")
        return own
    if slug is not None:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            known = session.scalars(select(Tenant.slug).order_by(Tenant.slug)).all()
            hint = f"；已有：{', '.join(known)}" if known else "；请先运行 qunyun tenant create"
            raise NotFound(f"没有名为 {slug!r} 的租户（品牌）{hint}")
        return tenant
    count = session.scalar(select(func.count()).select_from(Tenant)) or 0
    if count == 1:
        only = session.scalars(select(Tenant)).one()
        return only
    if count == 0:
        raise InvalidInput("还没有租户（品牌）：请先运行 qunyun tenant create SLUG --name 名称")
    raise InvalidInput(f"有 {count} 个租户，请用 --tenant SLUG 指定一个")


def actor_tenant(session: Session, actor: Actor) -> Tenant:
    """Return the tenant of a logged-in person or machine; raise NotFound when it is gone."""
    return access_tenant(session, actor, None)


# --- rights --------------------------------------------------------------------------------


def require_reader(actor: Actor) -> None:
    """Raise Forbidden for a machine: integration tokens carry no right to read tenant data."""
    if actor.kind == INTEGRATION:
        raise Forbidden("集成令牌不能读取业务数据，请用账号登录")


def require_scope(actor: Actor, scope: str) -> None:
    """Raise Forbidden unless the actor is a machine granted ``scope`` (or the CLI operator)."""
    if actor.kind == OPERATOR:
        return
    if actor.kind != INTEGRATION or scope not in actor.scopes:
        raise Forbidden(f"需要权限范围 {scope}")


EVENTS_WRITE = "events:write"
"""The integration-token scope that may add events to the lake."""


def require_event_writer(actor: Actor) -> None:
    """Raise Forbidden unless the actor may add events: HQ, or a machine with ``events:write``."""
    if actor.kind == ACCOUNT and actor.role is AccountRole.HQ_ADMIN:
        return
    require_scope(actor, EVENTS_WRITE)


def require_planner(actor: Actor) -> None:
    """Raise Forbidden unless the actor may compute and apply plans (HQ: the plan is national)."""
    require_reader(actor)
    if actor.kind == ACCOUNT and actor.role is not AccountRole.HQ_ADMIN:
        raise Forbidden("只有总部管理员可以计算和应用社群矩阵计划")


def require_importer(actor: Actor) -> None:
    """Raise Forbidden unless the actor may import master data (HQ: files span the nation)."""
    require_reader(actor)
    if actor.kind == ACCOUNT and actor.role is not AccountRole.HQ_ADMIN:
        raise Forbidden("只有总部管理员可以导入主数据")


def require_handover(actor: Actor) -> None:
    """Raise Forbidden unless the actor may hand people's work over (HQ, managers, supervisors)."""
    require_reader(actor)
    allowed = (AccountRole.HQ_ADMIN, AccountRole.MANAGER, AccountRole.SUPERVISOR)
    if actor.kind == ACCOUNT and actor.role not in allowed:
        raise Forbidden("只有总部管理员、经理和主管可以办理交接")


# --- scope ---------------------------------------------------------------------------------


def _subordinates(session: Session, tenant: Tenant, boss_id: str) -> set[str]:
    """Return everyone below ``boss_id`` in the staff hierarchy (not the boss).

    One recursive query down the manager index: the cost grows with the people below the boss,
    not with the tenant's staff (10,000 people at national scale). ``UNION`` (not ``ALL``)
    stops at a person already found, so even a cycle in the data ends.
    """
    below = (
        select(Staff.staff_id)
        .where(Staff.tenant_id == tenant.id, Staff.manager_id == boss_id)
        .cte("below", recursive=True)
    )
    below = below.union(
        select(Staff.staff_id).where(
            Staff.tenant_id == tenant.id, Staff.manager_id == below.c.staff_id
        )
    )
    return set(session.scalars(select(below.c.staff_id))) - {boss_id}


def _territory_reps(session: Session, tenant: Tenant, actor: Actor) -> list[str]:
    """Return the reps whose territories a rep or supervisor sees."""
    if actor.role is AccountRole.REP:
        return [actor.staff_id] if actor.staff_id else []
    return list(
        session.scalars(
            select(Staff.staff_id).where(
                Staff.tenant_id == tenant.id,
                Staff.manager_id == actor.staff_id,
                Staff.role == StaffRole.REP,
            )
        )
    )


def _manager_regions(session: Session, tenant: Tenant, actor: Actor) -> ColumnElement[bool]:
    """Return a condition on region codes: the manager's region and every division inside."""
    region = session.scalar(
        select(Staff.region_code).where(
            Staff.tenant_id == tenant.id, Staff.staff_id == actor.staff_id
        )
    )
    if region is None:
        return false()
    return RegionRow.code.in_(
        select(RegionRow.code).where(
            or_(
                RegionRow.code == region,
                RegionRow.parent_code == region,
                RegionRow.province_code == region,
            )
        )
    )


def _network(session: Session, tenant: Tenant, root: str | None) -> list[str]:
    """Return a distributor and every distributor below it (lower tiers buy from upper)."""
    if root is None:
        return []
    children: dict[str, list[str]] = {}
    for distributor_id, parent_id in session.execute(
        select(Distributor.distributor_id, Distributor.parent_id).where(
            Distributor.tenant_id == tenant.id, Distributor.parent_id.is_not(None)
        )
    ):
        if parent_id is not None:
            children.setdefault(parent_id, []).append(distributor_id)
    found, seen = [root], {root}
    for distributor_id in found:  # breadth first; ``found`` grows while it is walked
        for child in children.get(distributor_id, ()):
            if child not in seen:
                seen.add(child)
                found.append(child)
    return found


def _groups_with_member(session: Session, tenant: Tenant, *conditions: Any) -> list[str]:
    """Return the ids of the groups with an open stay matching ``conditions``.

    The ids are read first (a handful per person) so that the scope becomes a plain ``IN``
    list: nested subqueries over memberships made PostgreSQL pick slow plans.
    """
    return list(
        session.scalars(
            select(Membership.group_id)
            .where(Membership.tenant_id == tenant.id, Membership.left_at.is_(None), *conditions)
            .distinct()
        )
    )


def _admin_groups(session: Session, tenant: Tenant, actor: Actor) -> list[str]:
    return _groups_with_member(
        session,
        tenant,
        Membership.member_kind == ContactKind.STAFF,
        Membership.member_id == (actor.staff_id or ""),
        Membership.role == MemberRole.ADMIN,
    )


@dataclass(frozen=True)
class _StoreColumns:
    """The columns a table of store rows or store figures offers to the scope rules."""

    tenant_id: Any
    rep_id: Any
    region_code: Any
    distributor_id: Any = None
    store_id: Any = None


def _store_rules(
    session: Session, actor: Actor, tenant: Tenant, *tables: _StoreColumns
) -> list[ColumnElement[bool] | None]:
    """Return, per table, the condition selecting the actor's stores on its columns.

    A condition is None when the rule needs a column the table does not have (the coverage
    cells have neither distributor nor store ids). The people, regions or network the rule
    needs are read once for all tables.
    """
    role = actor.role
    if actor.kind == INTEGRATION:
        return [false() for _ in tables]
    if actor.sees_whole_tenant:
        return [columns.tenant_id == tenant.id for columns in tables]
    rules: list[ColumnElement[bool] | None] = []
    if role in (AccountRole.REP, AccountRole.SUPERVISOR):
        reps = _territory_reps(session, tenant, actor)
        for columns in tables:
            rules.append(and_(columns.tenant_id == tenant.id, columns.rep_id.in_(reps)))
    elif role is AccountRole.MANAGER:
        people = _subordinates(session, tenant, actor.staff_id or "")
        regions = _manager_regions(session, tenant, actor)
        for columns in tables:
            in_region = columns.region_code.in_(select(RegionRow.code).where(regions))
            rules.append(
                and_(columns.tenant_id == tenant.id, or_(in_region, columns.rep_id.in_(people)))
            )
    elif role is AccountRole.DISTRIBUTOR:
        network = _network(session, tenant, actor.distributor_id)
        for columns in tables:
            rules.append(
                None
                if columns.distributor_id is None
                else and_(columns.tenant_id == tenant.id, columns.distributor_id.in_(network))
            )
    elif role is AccountRole.GROUP_ADMIN:
        in_admin_groups = select(Membership.member_id).where(
            Membership.tenant_id == tenant.id,
            Membership.left_at.is_(None),
            Membership.member_kind == ContactKind.STORE,
            Membership.group_id.in_(_admin_groups(session, tenant, actor)),
        )
        for columns in tables:
            rules.append(
                None
                if columns.store_id is None
                else and_(columns.tenant_id == tenant.id, columns.store_id.in_(in_admin_groups))
            )
    else:
        rules = [false() for _ in tables]
    return rules


_STORES = _StoreColumns(
    Store.tenant_id, Store.rep_id, Store.region_code, Store.distributor_id, Store.store_id
)
_CELLS = _StoreColumns(CoverageCell.tenant_id, CoverageCell.rep_id, CoverageCell.region_code)
_GAPS = _StoreColumns(
    CoverageGap.tenant_id,
    CoverageGap.rep_id,
    CoverageGap.region_code,
    CoverageGap.distributor_id,
    CoverageGap.store_id,
)


def stores_in_scope(session: Session, actor: Actor, tenant: Tenant) -> ColumnElement[bool]:
    """Return the condition on ``Store`` rows that selects the tenant's stores the actor sees."""
    (rule,) = _store_rules(session, actor, tenant, _STORES)
    assert rule is not None  # stores have every column
    return rule


def coverage_in_scope(session: Session, actor: Actor, tenant: Tenant) -> CoverageScope:
    """Return the conditions that select the actor's stores in the coverage figures.

    The same rules as ``stores_in_scope``, on the stores, the coverage cells (None for the
    scopes that are not whole reps or divisions) and the coverage gaps.
    """
    stores, cells, gaps = _store_rules(session, actor, tenant, _STORES, _CELLS, _GAPS)
    assert stores is not None  # stores and gaps have every column
    assert gaps is not None
    return CoverageScope(stores=stores, cells=cells, gaps=gaps)


def groups_in_scope(session: Session, actor: Actor, tenant: Tenant) -> ColumnElement[bool]:
    """Return the condition on ``Group`` rows that selects the tenant's groups the actor sees."""
    own = Group.tenant_id == tenant.id
    if actor.kind == INTEGRATION:
        return false()
    if actor.sees_whole_tenant:
        return own
    role = actor.role
    if role in (AccountRole.REP, AccountRole.SUPERVISOR):
        return and_(own, Group.territory_rep_id.in_(_territory_reps(session, tenant, actor)))
    if role is AccountRole.MANAGER:
        people = _subordinates(session, tenant, actor.staff_id or "")
        regions = _manager_regions(session, tenant, actor)
        return and_(
            own,
            or_(
                Group.region_code.in_(select(RegionRow.code).where(regions)),
                Group.territory_rep_id.in_(people),
            ),
        )
    if role is AccountRole.DISTRIBUTOR:
        network = _network(session, tenant, actor.distributor_id)
        supplied = list(
            session.scalars(
                select(Store.store_id).where(
                    Store.tenant_id == tenant.id, Store.distributor_id.in_(network)
                )
            )
        )
        ids = set(
            _groups_with_member(
                session,
                tenant,
                Membership.member_kind == ContactKind.DISTRIBUTOR,
                Membership.member_id.in_(network),
            )
        )
        for start in range(0, len(supplied), 5000):
            ids.update(
                _groups_with_member(
                    session,
                    tenant,
                    Membership.member_kind == ContactKind.STORE,
                    Membership.member_id.in_(supplied[start : start + 5000]),
                )
            )
        return and_(own, Group.group_id.in_(sorted(ids)))
    if role is AccountRole.GROUP_ADMIN:
        return and_(own, Group.group_id.in_(_admin_groups(session, tenant, actor)))
    return false()


def analytics_groups(session: Session, actor: Actor, tenant: Tenant) -> frozenset[str] | None:
    """Return the ids of the groups whose figures the actor reads, archived ones too.

    None for the whole tenant: the analyses then also count groups the lake knows and the
    database does not (as the CLI's do). Raise Forbidden for a machine.
    """
    require_reader(actor)
    if actor.sees_whole_tenant:
        return None
    within = groups_in_scope(session, actor, tenant)
    return frozenset(session.scalars(select(Group.group_id).where(within)))


def staff_in_scope(session: Session, actor: Actor, tenant: Tenant) -> ColumnElement[bool]:
    """Return the condition on ``Staff`` rows of the people whose work the actor may manage.

    HQ (and the analyst, read-only) see everyone; a manager or supervisor himself and
    everyone below him; anyone else only himself.
    """
    own = Staff.tenant_id == tenant.id
    if actor.kind == INTEGRATION:
        return false()
    if actor.sees_whole_tenant:
        return own
    people = {actor.staff_id} if actor.staff_id else set()
    if actor.role in (AccountRole.MANAGER, AccountRole.SUPERVISOR) and actor.staff_id:
        people |= _subordinates(session, tenant, actor.staff_id)
    return and_(own, Staff.staff_id.in_(people))


def access_group(session: Session, actor: Actor, tenant: Tenant, group_id: str) -> Group:
    """Return the group; raise NotFound when it does not exist or is outside the scope."""
    group = session.scalar(
        select(Group).where(groups_in_scope(session, actor, tenant), Group.group_id == group_id)
    )
    if group is None:
        raise NotFound(f"没有社群 {group_id}")
    return group


def access_staff(session: Session, actor: Actor, tenant: Tenant, staff_id: str) -> Staff:
    """Return the staff member; raise NotFound when unknown or outside the actor's people."""
    staff = session.scalar(
        select(Staff).where(staff_in_scope(session, actor, tenant), Staff.staff_id == staff_id)
    )
    if staff is None:
        raise NotFound(f"没有员工 {staff_id!r}")
    return staff


def access_store(session: Session, actor: Actor, tenant: Tenant, store_id: str) -> Store:
    """Return the store; raise NotFound when it does not exist or is outside the scope."""
    store = session.scalar(
        select(Store).where(stores_in_scope(session, actor, tenant), Store.store_id == store_id)
    )
    if store is None:
        raise NotFound(f"没有门店 {store_id!r}")
    return store


def require_whole_tenant(actor: Actor) -> None:
    """Raise Forbidden unless the actor reads the whole tenant (HQ, analyst): plans are national."""
    require_reader(actor)
    if not actor.sees_whole_tenant:
        raise Forbidden("只有总部管理员和分析员可以查看全国计划")


# --- activation (red packets, flash sales, group-buys, 接龙) -------------------------------

ACTIVATORS = (
    AccountRole.HQ_ADMIN,
    AccountRole.MANAGER,
    AccountRole.SUPERVISOR,
    AccountRole.REP,
    AccountRole.GROUP_ADMIN,
)
"""Roles that run activation in the groups of their scope (send packets, open sales)."""
MEMBER_ISSUERS = (AccountRole.HQ_ADMIN, AccountRole.GROUP_ADMIN)
"""Roles that may hand a member the identity token of the H5 pages."""


def require_activator(actor: Actor) -> None:
    """Raise Forbidden unless the actor may start activation in groups (not analysts, distributors)."""
    require_reader(actor)
    if actor.kind == ACCOUNT and actor.role not in ACTIVATORS:
        raise Forbidden(
            "只有总部管理员、经理、主管、业务员和群管理员可以发起红包、秒杀、拼团和接龙"
        )


def may_activate(actor: Actor) -> bool:
    """Return whether the actor may send packets and open sales and deals in his groups."""
    if actor.kind == OPERATOR:
        return True
    return actor.kind == ACCOUNT and actor.role in ACTIVATORS


RULE_SETTERS = (AccountRole.HQ_ADMIN,)
"""Roles that set red-packet rules and budgets (money is HQ's): the others read them."""


def may_set_rules(actor: Actor) -> bool:
    """Return whether the actor may set red-packet rules and budgets."""
    if actor.kind == OPERATOR:
        return True
    return actor.kind == ACCOUNT and actor.role in RULE_SETTERS


def require_rule_setter(actor: Actor) -> None:
    """Raise Forbidden unless the actor may set red-packet rules and budgets (HQ)."""
    require_reader(actor)
    if not may_set_rules(actor):
        raise Forbidden("只有总部管理员可以设置红包规则和预算")


def require_member_issuer(actor: Actor) -> None:
    """Raise Forbidden unless the actor may issue member tokens (HQ and group admins)."""
    require_reader(actor)
    if actor.kind == ACCOUNT and actor.role not in MEMBER_ISSUERS:
        raise Forbidden("只有总部管理员和群管理员可以签发会员令牌")


CUTOFF_MAKERS = (AccountRole.HQ_ADMIN,)
"""Roles that may make a 接龙 cutoff by hand: it locks the lines of every group of the brand,
beyond the scope of every other role (the scheduled job makes it at the tenant's times)."""


def may_cut_off(actor: Actor) -> bool:
    """Return whether the actor may make the brand-wide 接龙 cutoff that has fallen due."""
    if actor.kind == OPERATOR:
        return True
    return actor.kind == ACCOUNT and actor.role in CUTOFF_MAKERS


def require_cutoff_maker(actor: Actor) -> None:
    """Raise Forbidden unless the actor may make the brand-wide 接龙 cutoff (HQ)."""
    require_reader(actor)
    if not may_cut_off(actor):
        raise Forbidden("只有总部管理员可以立即截单：截单会锁定全品牌所有社群的接龙")


def access_in_group(
    session: Session, actor: Actor, tenant: Tenant, group_id: str, missing: str
) -> None:
    """Raise NotFound(``missing``) unless the group of an object is in the actor's scope.

    The message is the object's own "not found", so that an object outside the scope answers
    exactly as one that does not exist.
    """
    inside = session.scalar(
        select(Group.group_id).where(
            groups_in_scope(session, actor, tenant), Group.group_id == group_id
        )
    )
    if inside is None:
        raise NotFound(missing)


def access_member(
    session: Session, actor: Actor, tenant: Tenant, member_kind: ContactKind, member_id: str
) -> None:
    """Raise NotFound unless the member has an open stay in a group of the actor's scope."""
    stay = session.scalar(
        select(Membership.id)
        .join(
            Group,
            (Group.tenant_id == Membership.tenant_id) & (Group.group_id == Membership.group_id),
        )
        .where(
            groups_in_scope(session, actor, tenant),
            Group.archived_at.is_(None),
            Membership.tenant_id == tenant.id,
            Membership.member_kind == member_kind,
            Membership.member_id == member_id,
            Membership.left_at.is_(None),
        )
        .limit(1)
    )
    if stay is None:
        raise NotFound(f"没有会员 {member_kind.value} {member_id}")
