"""The FastAPI application: REST API under ``/api/v1``, the console at ``/``, static files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware

from qunyun import __version__
from qunyun.activation.errors import ActivationConflict
from qunyun.activation.hot import RedisHotState, hot_state
from qunyun.activation.persist import Persister
from qunyun.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    QunyunError,
    Throttled,
    Unauthenticated,
)
from qunyun.web.api import activation as activation_api
from qunyun.web.api import analytics as analytics_api
from qunyun.web.api import auth as auth_api
from qunyun.web.api import draws as draws_api
from qunyun.web.api import events as events_api
from qunyun.web.api import governance as governance_api
from qunyun.web.api import groups as groups_api
from qunyun.web.api import plans as plans_api
from qunyun.web.api.schemas import ErrorOut
from qunyun.web.auth import ACCESS_TOKEN_SECONDS, SESSION_COOKIE, TokenSigner, secret_key
from qunyun.web.console import activation as console_activation
from qunyun.web.console import growth as console_growth
from qunyun.web.console import imports as console_imports
from qunyun.web.console import pages
from qunyun.web.console.render import render_error
from qunyun.web.h5 import pages as h5_pages

STATIC = Path(__file__).parent / "static"
API_PREFIX = "/api/v1"
STATUS = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Throttled: 429,
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 422, 429, 503)
}


def create_app(
    engine: Engine | None = None, key: str | None = None, hot: RedisHotState | None = None
) -> FastAPI:
    """Return the application on ``engine`` (default: the configured, migrated database).

    Activation's hot counters live in ``hot``, else in the Redis of ``QUNYUN_REDIS_URL``, else
    in SQL.
    """
    if engine is None:
        from qunyun.core.db import get_engine

        engine = get_engine()
    key = key or secret_key()
    app = FastAPI(
        lifespan=_lifespan,
        title="Qunyun 群运 API",
        version=__version__,
        description="REST API of Qunyun: the community matrix of a brand's channel, by scope.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.engine = engine
    app.state.signer = TokenSigner(key)
    app.state.hot = hot if hot is not None else hot_state()
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=SESSION_COOKIE,
        max_age=ACCESS_TOKEN_SECONDS,
        same_site="strict",
    )
    routers = (auth_api.router, groups_api.router, plans_api.router, governance_api.router)
    for router in (*routers, events_api.router):
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(activation_api.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(draws_api.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(analytics_api.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(pages.router, include_in_schema=False)
    app.include_router(h5_pages.router, include_in_schema=False)
    app.include_router(console_imports.router, include_in_schema=False)
    app.include_router(console_activation.router, include_in_schema=False)
    app.include_router(console_growth.router, include_in_schema=False)
    app.add_api_route("/api/docs", _api_docs, include_in_schema=False)
    app.mount("/static", _StaticFiles(directory=STATIC), name="static")
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_exception_handler(QunyunError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _busy_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the activation log's drainer while the app serves, when hot counters are in Redis."""
    persister = Persister(app.state.engine, app.state.hot) if app.state.hot else None
    if persister is not None:
        persister.start()
    try:
        yield
    finally:
        if persister is not None:
            persister.stop()


SWAGGER_UI = "/static/vendor/swagger-ui-5.35.0"


class _StaticFiles(StaticFiles):
    """Static files; the vendored ones carry their version in the path, so phones keep them."""

    def file_response(
        self, full_path: Any, stat_result: Any, scope: Any, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if (STATIC / "vendor") in Path(full_path).parents:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def _api_docs() -> HTMLResponse:
    """Serve the API's Swagger UI from our own static files (no CDN: intranets are offline)."""
    return get_swagger_ui_html(
        openapi_url="/api/openapi.json",
        title="Qunyun 群运 API",
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None},  # the public validator is online
    )


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    if request.url.path.startswith("/h5/"):
        return h5_pages.render_h5_error(request, status, message)
    if status == 401:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return render_error(request, status, message)


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, QunyunError)
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
    if isinstance(error, ActivationConflict) and _is_api(request):
        return JSONResponse({"error": error.code, "detail": error.message}, status_code=status)
    return _error(request, status, error.message)


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = []
    for issue in error.errors():
        where = ".".join(str(part) for part in issue.get("loc", ()) if part != "body")
        problems.append(f"{where or '请求体'}: {issue.get('msg', '无效')}")
    return _error(request, 422, "请求参数有误：" + "；".join(problems))


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    messages = {404: "没有这个地址", 405: "不支持这种请求方法"}
    message = messages.get(error.status_code, str(error.detail))
    response = _error(request, error.status_code, message)
    if error.headers:
        response.headers.update(error.headers)
    return response


BUSY_RETRY_SECONDS = 5


async def _busy_error(request: Request, error: Exception) -> Response:
    """Answer 503 when every database connection stayed busy: overload, not a fault."""
    response = _error(
        request,
        503,
        "服务器繁忙：数据库连接已全部占用，请稍后重试"
        f"（Server busy: every database connection is in use; retry in {BUSY_RETRY_SECONDS} s）",
    )
    response.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
    return response


async def _unexpected_error(request: Request, error: Exception) -> Response:
    return _error(request, 500, "服务器内部错误，已记录；请稍后再试")
