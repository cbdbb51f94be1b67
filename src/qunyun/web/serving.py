"""Serving the app with uvicorn: one process, or worker processes sharing one socket."""

from __future__ import annotations

import gc
import socket

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from qunyun.core.db import get_engine
from qunyun.web.app import create_app
from qunyun.web.auth import secret_key

APP_FACTORY = "qunyun.web.serving:served_app"
"""What each worker process imports to build its own application."""
WORKER_HEALTHCHECK_SECONDS = 60
"""How long a worker may take to answer uvicorn's ping before it is killed and replaced
(uvicorn's 5 s killed busy workers on a loaded machine, dropping their requests)."""


class SharedSocketConfig(uvicorn.Config):
    """uvicorn's settings, binding a listening socket whose answers leave at once.

    With workers, uvicorn binds the socket in the parent as a stream socket of protocol 0,
    which asyncio does not take for TCP, so it never turns Nagle's algorithm off on accepted
    connections: the body of every answer then waited about 40 ms for the client's delayed
    ACK. Connections accepted on Linux inherit ``TCP_NODELAY`` from the listening socket.
    """

    def bind_socket(self) -> socket.socket:
        """Return the bound listening socket, with ``TCP_NODELAY`` on a TCP one."""
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def served_app() -> FastAPI:
    """Return the app of a serving process, its start-up objects kept out of the collector.

    The modules, classes and functions loaded by then (about 220,000 objects) never become
    garbage; frozen, the collector's full passes no longer walk them. On the 2M-store tenant
    such a pass paused a process for ~157 ms once in a thousand requests — a request's p99
    under 20 clients — and ~40 ms with them frozen.
    """
    app = create_app()
    gc.freeze()
    return app


def serve_app(host: str, port: int, workers: int = 1) -> None:
    """Serve the console and the API until interrupted, in ``workers`` processes."""
    if workers == 1:
        uvicorn.run(served_app(), host=host, port=port, log_level="warning")
        return
    get_engine()  # migrate once, before the workers start
    secret_key()  # and make the signing key they share
    config = SharedSocketConfig(
        APP_FACTORY,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()  # as uvicorn.run does
