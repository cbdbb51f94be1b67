"""What every route needs: a unit of work on the app's database and the calling actor."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from qunyun.activation.hot import RedisHotState
from qunyun.activation.lane import HotLane
from qunyun.core.db import unit_of_work
from qunyun.core.errors import NotFound, Unauthenticated
from qunyun.org.access import Actor
from qunyun.org.models import Tenant
from qunyun.web.auth import Member, TokenSigner, account_actor

NumericId = Annotated[int, Path(ge=1, le=2**62)]
"""A numeric id in a path (a packet, sale, deal, draw …): positive, within BIGINT."""


def work(request: Request) -> AbstractContextManager[Session]:
    """Return a unit of work on the app's database (commits on success, rolls back on error)."""
    return unit_of_work(request.app.state.engine)


bearer_scheme = HTTPBearer(
    auto_error=False,
    description="`access_token` of POST /api/v1/auth/token, or an integration token.",
)


def api_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Actor:
    """Return the actor of the request's bearer token; raise Unauthenticated without a good one."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthenticated("需要登录：请求头 Authorization: Bearer <token>")
    signer: TokenSigner = request.app.state.signer
    with work(request) as session:
        actor = signer.actor(session, credentials.credentials.strip())
    if actor is None:
        raise Unauthenticated("令牌无效或已过期，请重新获取")
    return actor


def console_actor(request: Request) -> Actor | None:
    """Return the actor of the console session cookie, or None when nobody is logged in."""
    account_id = request.session.get("account")
    if not isinstance(account_id, int):
        return None
    with work(request) as session:
        actor = account_actor(session, account_id, request.session.get("mark"))
    if actor is None:
        request.session.clear()
    return actor


ApiActor = Annotated[Actor, Depends(api_actor)]


async def api_member(request: Request) -> Member:
    """Return the member of the request's member token; raise Unauthenticated without one.

    Staff tokens are refused here, as member tokens are on the staff endpoints. Async
    because it does no I/O: a sync dependency would cost a thread hop on every grab.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("需要会员令牌：请求头 Authorization: Bearer <会员令牌>")
    signer: TokenSigner = request.app.state.signer
    member = signer.member(token.strip())
    if member is None:
        raise Unauthenticated("会员令牌无效或已过期，请从群里的链接重新打开")
    return member


def member_tenant(session: Session, member: Member) -> Tenant:
    """Return the tenant of a member token; raise NotFound when the tenant is gone."""
    tenant = session.get(Tenant, member.tenant_id)
    if tenant is None:
        raise NotFound("这个品牌已不存在")
    return tenant


def hot(request: Request) -> RedisHotState | None:
    """Return the app's Redis hot state, or None when hot counters live in SQL."""
    state: RedisHotState | None = getattr(request.app.state, "hot", None)
    return state


def lane(request: Request) -> HotLane:
    """Return the app's hot lane, where grabs and orders run (``activation.lane``)."""
    hot_lane: HotLane = request.app.state.lane
    return hot_lane


ApiMember = Annotated[Member, Depends(api_member)]


MEMBER_COOKIE = "qunyun_member"
"""The H5 pages' cookie: the member token, set by ``/h5/login?token=…``."""


def cookie_member(request: Request) -> tuple[Member, str] | None:
    """Return the member of the H5 cookie and its token, or None without a good one."""
    token = request.cookies.get(MEMBER_COOKIE)
    if not token:
        return None
    signer: TokenSigner = request.app.state.signer
    member = signer.member(token)
    return None if member is None else (member, token)
