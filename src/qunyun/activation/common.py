"""Helpers shared by the activation actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind
from qunyun.core.errors import NotFound
from qunyun.groups.queries import is_current_member
from qunyun.org.models import Tenant


def upsert(session: Session, model: type[Any]) -> Any:
    """Return the dialect's INSERT into ``model``'s table, which has ``on_conflict_do_*``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def epoch_ms(moment: datetime) -> int:
    """Return an aware moment as milliseconds since the epoch (Redis scripts compare these)."""
    return int(moment.timestamp() * 1000)


def require_member(
    session: Session,
    tenant: Tenant,
    group_id: str,
    member_kind: ContactKind,
    member_id: str,
    what: str,
) -> None:
    """Raise NotFound unless the member is in the group now: to others ``what`` does not exist.

    The message is the one of a missing ``what``, so that it tells an outsider nothing (not
    even the group).
    """
    if not is_current_member(session, tenant, group_id, member_kind, member_id):
        raise NotFound(f"没有{what}")
