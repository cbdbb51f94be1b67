"""The FastAPI application: REST API under ``/api/v1``, the console at ``/``, static files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware

from qunyun import __version__
from qunyun.activation.hot import RedisHotState, hot_state
from qunyun.activation.lane import HotLane
from qunyun.activation.persist import Persister
from qunyun.web.api import activation as activation_api
from qunyun.web.api import analytics as analytics_api
from qunyun.web.api import auth as auth_api
from qunyun.web.api import draws as draws_api
from qunyun.web.api import events as events_api
from qunyun.web.api import governance as governance_api
from qunyun.web.api import groups as groups_api
from qunyun.web.api import plans as plans_api
from qunyun.web.api import relays as relays_api
from qunyun.web.auth import ACCESS_TOKEN_SECONDS, SESSION_COOKIE, TokenSigner, secret_key
from qunyun.web.console import activation as console_activation
from qunyun.web.console import draws as console_draws
from qunyun.web.console import growth as console_growth
from qunyun.web.console import imports as console_imports
from qunyun.web.console import orderlists as console_orderlists
from qunyun.web.console import pages
from qunyun.web.errors import ERROR_RESPONSES, add_error_handlers
from qunyun.web.h5 import pages as h5_pages

STATIC = Path(__file__).parent / "static"
API_PREFIX = "/api/v1"


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
    app.state.lane = HotLane(engine)
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
    app.include_router(relays_api.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(analytics_api.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(pages.router, include_in_schema=False)
    app.include_router(h5_pages.router, include_in_schema=False)
    app.include_router(console_imports.router, include_in_schema=False)
    app.include_router(console_activation.router, include_in_schema=False)
    app.include_router(console_draws.router, include_in_schema=False)
    app.include_router(console_orderlists.router, include_in_schema=False)
    app.include_router(console_growth.router, include_in_schema=False)
    app.add_api_route("/api/docs", _api_docs, include_in_schema=False)
    app.mount("/static", _StaticFiles(directory=STATIC), name="static")
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    add_error_handlers(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the activation log's drainer while the app serves, when hot counters are in Redis.

    At the end the hot lane answers what it holds and gives its connection back.
    """
    persister = Persister(app.state.engine, app.state.hot) if app.state.hot else None
    if persister is not None:
        persister.start()
    try:
        yield
    finally:
        app.state.lane.close()
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
