"""schemathesis against our OpenAPI document: no 5xx, every response as documented."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.case import Case

from .conftest import bearer

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

    assert len(operations) == 14
