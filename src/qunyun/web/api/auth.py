"""``/api/v1/auth``: bearer tokens for people; ``/api/v1/me``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from qunyun.core.errors import Unauthenticated
from qunyun.org.access import actor_tenant
from qunyun.org.accounts import do_login
from qunyun.web.api.schemas import MeOut, TokenIn, TokenOut
from qunyun.web.auth import TokenSigner
from qunyun.web.deps import ApiActor, work

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenOut)
def create_token(body: TokenIn, request: Request) -> TokenOut:
    """Exchange a tenant, username and password for a bearer token (401 when they are wrong)."""
    signer: TokenSigner = request.app.state.signer
    with work(request) as session:
        account = do_login(session, body.tenant, body.username, body.password)
        token = signer.issue(account) if account is not None else None
    if token is None:
        raise Unauthenticated("租户、用户名或密码不正确")
    return TokenOut(access_token=token, token_type="bearer")


@router.get("/me", response_model=MeOut)
def me(actor: ApiActor, request: Request) -> MeOut:
    """Return who the token belongs to."""
    with work(request) as session:
        tenant = actor_tenant(session, actor)
        slug = tenant.slug
    return MeOut(
        tenant=slug,
        username=actor.name,
        role=actor.role.value if actor.role else actor.kind,
        staff_id=actor.staff_id,
        distributor_id=actor.distributor_id,
    )
