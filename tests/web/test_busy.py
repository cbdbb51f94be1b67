"""Overload: when every database connection stays busy, answer 503 with a clear message."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from qunyun.web.app import create_app

from ..conftest import Cli
from .conftest import KEY, bearer, console_login

BUSY = (
    "服务器繁忙：数据库连接已全部占用，请稍后重试"
    "（Server busy: every database connection is in use; retry in 5 s）"
)


def test_a_full_connection_pool_answers_503_not_500(engine: Engine, demo: Cli) -> None:
    # given an app whose only database connection another request holds
    small = create_engine(engine.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    app = create_app(small, KEY)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = bearer(client, "hq")
        console_login(client, "hq")
        held = small.connect()
        try:
            # when the API and the console are asked for something
            api = client.get("/api/v1/groups", headers=headers)
            page = client.get("/")
        finally:
            held.close()
        after = client.get("/api/v1/groups", headers=headers)

    # then both say the server is busy, and it serves again once the connection is back
    assert (api.status_code, api.json(), api.headers["retry-after"]) == (503, {"detail": BUSY}, "5")
    assert page.status_code == 503
    assert BUSY in page.text
    assert after.status_code == 200
    small.dispose()
