"""Access guards: the one place that decides which tenant data an actor may reach.

This issue has one kind of actor, the operator at the command line, who may reach the whole
tenant they name. Web roles (rep, supervisor, manager, distributor …) add their scopes here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qunyun.core.errors import InvalidInput, NotFound
from qunyun.org.models import Tenant


@dataclass(frozen=True)
class Actor:
    """Who acts: ``kind`` is ``operator`` (CLI, whole tenant) for now."""

    kind: str
    name: str

    @classmethod
    def operator(cls, name: str = "cli") -> Actor:
        """Return the command-line operator, who may reach every row of a named tenant."""
        return cls("operator", name)


def access_tenant(session: Session, actor: Actor, slug: str | None) -> Tenant:
    """Return the tenant ``slug`` names, or the only tenant when ``slug`` is None.

    Raise NotFound when no tenant has that slug, and InvalidInput when ``slug`` is None
    while there is not exactly one tenant.
    """
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
