"""Groups with members for the activation tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from qunyun.activation.hot import RedisHotState
from qunyun.channel.models import ContactKind
from qunyun.core.db import unit_of_work
from qunyun.groups.actions import do_create_group, do_join
from qunyun.groups.models import Matrix, MemberRole
from qunyun.org.models import Tenant

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
"""10:00 in Shanghai on a Monday: inside the default red-packet window."""

STORE = ContactKind.STORE


def group_with_members(
    engine: Engine, tenant: Tenant, members: int, group_id: str = "G1"
) -> list[str]:
    """Create a store group with stores S001… as members; return their ids."""
    ids = [f"S{number:03d}" for number in range(1, members + 1)]
    with unit_of_work(engine) as session:
        do_create_group(session, tenant, group_id, "广州天河·便利店A类·服务群 01", Matrix.STORE)
        for member in ids:
            do_join(session, tenant, group_id, STORE, member, MemberRole.CUSTOMER, T0)
    return ids


def path_state(request: pytest.FixtureRequest) -> RedisHotState | None:
    """Return the hot state of a test parametrised over ``sql`` and ``redis``."""
    if request.param == "sql":
        return None
    state: RedisHotState = request.getfixturevalue("hot")
    return state
