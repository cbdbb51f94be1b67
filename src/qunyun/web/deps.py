"""What every route needs: a unit of work on the app's database and the calling actor."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from qunyun.core.db import unit_of_work
from qunyun.core.errors import Unauthenticated
from qunyun.org.access import Actor
from qunyun.web.auth import TokenSigner, account_actor


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
