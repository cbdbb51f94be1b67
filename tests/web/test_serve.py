"""``qunyun serve`` and the end of ``qunyun demo``: logins printed, console served from a terminal."""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from qunyun.cli import main
from qunyun.web.serving import served_app

from ..conftest import Cli


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Record what would be served instead of serving it (and thaw what the app froze)."""
    calls: list[dict[str, Any]] = []

    def fake_run(app: FastAPI, **options: Any) -> None:
        calls.append({"app": app, **options})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    yield calls
    gc.unfreeze()


def test_serve_runs_the_app_on_the_given_address(cli: Cli, served: list[dict[str, Any]]) -> None:
    result = cli("serve", "--host", "0.0.0.0", "--port", "8123")

    assert result.output == (
        "控制台：http://0.0.0.0:8123/    API 文档：http://0.0.0.0:8123/api/docs\n"
    )
    assert [(call["host"], call["port"]) for call in served] == [("0.0.0.0", 8123)]
    assert isinstance(served[0]["app"], FastAPI)


def test_serve_with_workers_shares_one_socket_that_sends_at_once(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[uvicorn.Config, list[socket.socket]]] = []

    def fake_run(supervisor: Multiprocess) -> None:
        started.append((supervisor.config, supervisor.sockets))

    monkeypatch.setattr(Multiprocess, "run", fake_run)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = cli("serve", "--port", str(port), "--workers", "2")

    [(config, [listening])] = started
    with listening:
        assert result.output == (
            f"控制台：http://127.0.0.1:{port}/    API 文档：http://127.0.0.1:{port}/api/docs\n"
        )
        assert (config.app, config.factory, config.workers) == (
            "qunyun.web.serving:served_app",
            True,
            2,
        )
        assert (config.log_level, config.timeout_worker_healthcheck) == ("warning", 60)
        assert listening.getsockname() == ("127.0.0.1", port)
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_demo_prints_the_logins_and_serves_only_from_a_terminal(
    cli: Cli, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted = cli("demo", "--stores", "300", "--consumers", "0", "--days", "0")
    monkeypatch.setattr(main, "_stdin_is_terminal", lambda: True)
    at_terminal = cli(
        "demo", "--stores", "300", "--consumers", "0", "--days", "0", "--port", "8200"
    )
    opted_out = cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")

    assert "控制台 http://127.0.0.1:8000/ · 租户 demo · 密码 qunyun-demo" in scripted.output
    for username in ("hq", "manager", "supervisor", "rep", "admin", "distributor", "analyst"):
        assert f"│ {username} " in scripted.output
    assert "非交互运行：不启动控制台；需要时运行 qunyun serve" in scripted.output
    assert [(call["host"], call["port"]) for call in served] == [("127.0.0.1", 8200)]
    assert "非交互运行" not in at_terminal.output
    assert "非交互运行" not in opted_out.output


def test_a_served_app_keeps_its_start_up_objects_out_of_the_collector() -> None:
    gc.unfreeze()
    try:
        app = served_app()
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()

    assert isinstance(app, FastAPI)
    assert frozen > 10_000
