"""Fixtures of the web tests: the demo brand with its logins, the app and an HTTP client."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from qunyun.core.db import unit_of_work
from qunyun.demo.build import DEMO_PASSWORD
from qunyun.groups.models import Group, Matrix
from qunyun.web.app import create_app

from ..conftest import Cli

KEY = "test-key-" + "x" * 40


@pytest.fixture
def demo(cli: Cli) -> Cli:
    """Build the demo brand (300 stores) with one login per role; return the CLI runner."""
    cli("demo", "--stores", "300", "--consumers", "100", "--no-serve", "--days", "0")
    return cli


@pytest.fixture
def app(engine: Engine, demo: Cli) -> FastAPI:
    """Return the application on the test database."""
    return create_app(engine, KEY)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Return an HTTP client of the app (server errors raise in the test)."""
    with TestClient(app) as test_client:
        yield test_client


def bearer(client: TestClient, username: str, tenant: str = "demo") -> dict[str, str]:
    """Return the Authorization header of a demo login."""
    response = client.post(
        "/api/v1/auth/token",
        json={"tenant": tenant, "username": username, "password": DEMO_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def console_login(client: TestClient, username: str, tenant: str = "demo") -> None:
    """Log the client in to the console as a demo login (through the form, with its CSRF)."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    response = client.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "tenant": tenant,
            "username": username,
            "password": DEMO_PASSWORD,
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def csrf_of(client: TestClient, page: str = "/") -> str:
    """Return the CSRF token a console page carries."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert token is not None
    return token.group(1)


def store_groups_of(engine: Engine, rep_id: str) -> list[str]:
    """Return the ids of the open store groups of a rep's territory."""
    with unit_of_work(engine) as session:
        return list(
            session.scalars(
                select(Group.group_id)
                .where(
                    Group.territory_rep_id == rep_id,
                    Group.matrix == Matrix.STORE,
                    Group.archived_at.is_(None),
                )
                .order_by(Group.group_id)
            )
        )
