"""schemathesis against our OpenAPI document: no 5xx, every response as documented."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.case import Case
from sqlalchemy import Engine

from .activation_helpers import foreign_activation, member_headers, stores_of_group
from .conftest import bearer, store_groups_of

# one backend is enough here: the schema and the handlers are the same on both
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_every_operation_answers_as_documented(app: FastAPI, client: TestClient) -> None:
    # given the document the app serves and an HQ token (the widest scope)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    headers = bearer(client, "hq")
    operations = [result.ok() for result in schema.get_all_operations()]

    # when schemathesis sends generated requests to every operation, then each passes its checks
    for operation in operations:

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def answers_as_documented(case: Case) -> None:
            case.call_and_validate(headers=headers)

        answers_as_documented()

    assert len(operations) == 48


def test_member_operations_answer_as_documented_for_a_member(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    # given a member token of a store in a group with a packet, a sale, a deal and a list
    group = store_groups_of(engine, "R0001")[0]
    foreign_activation(engine, group)
    member = member_headers(client, bearer(client, "hq"), stores_of_group(engine, group)[1])
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if any(
            word in result.ok().path
            for word in ("/grab", "/orders", "/teams", "/members", "/lines", "/entries", "/rounds")
        )
        and result.ok().method.upper() == "POST"
        and result.ok().path != "/api/v1/members/token"
    ]

    # when schemathesis sends generated requests as the member (ids 1 exist), then each passes
    for operation in operations:

        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def answers_as_documented(case: Case) -> None:
            case.call_and_validate(headers=member)

        answers_as_documented()

    assert len(operations) == 7
